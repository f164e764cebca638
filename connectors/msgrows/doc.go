// Package msgrows turns the messages of a stream (Kafka records, NATS
// JetStream messages) into batches of rows: the message's metadata as
// columns of their own, its value decoded as a JSON object into columns,
// or kept whole as a string or bytes column. A value that is not what the
// format says becomes a reject naming where the message came from.
package msgrows
