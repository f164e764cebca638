package store

// ScheduleStore keeps the scheduler's view of pipelines: schedules, slots fired, lateness.
type ScheduleStore interface{}

var scheduleMigration = migration{}
