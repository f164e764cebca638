// Package alert owns notifications: channels (webhooks signed with
// HMAC-SHA256, email over SMTP), rules that say which events of which
// pipelines notify which channels, and the delivery of each notification.
//
// Events come from finished runs (the [Notifier] is a run observer) and
// from the scheduler's late detection. Matching an event records one
// pending delivery per rule and channel in the metadata store; a
// [Dispatcher] loop in every server and worker process claims due
// deliveries, sends them and retries failures with exponential backoff.
// So a slow or failing receiver never slows or fails a run, and a
// delivery outlives a restart of the process that recorded it.
package alert
