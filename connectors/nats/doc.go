// Package nats is the nats connector: a NATS JetStream source reading
// streams through a durable consumer that is acknowledged only after the
// destination committed, its position saved as the stream sequence with
// the destination's commit, bounded to the last sequence at the start of a
// run or continuous; and a destination publishing each row as JSON with a
// message ID, so that JetStream drops a row published twice.
package nats
