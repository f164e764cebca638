// Package scheduler decides when pipelines run on their own: at the due
// times of their `schedule` (cron expressions and descriptors, with time
// zones), after their upstreams (`depends_on`) succeeded, once after
// downtime however many due times passed, and it reports pipelines that
// are late. It owns no goroutine: a caller (River's elected leader, in
// `tributary serve`) calls [Scheduler.Tick] about every second, and the
// store makes every decision idempotent across hosts.
package scheduler
