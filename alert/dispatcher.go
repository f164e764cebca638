package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-data/tributary/store"
)

// Dispatcher sends pending deliveries: it claims due ones from the store,
// makes one attempt each, and records the outcome. A failure another
// attempt may cure is retried after an exponential backoff, until the
// channel's max_attempts.
type Dispatcher struct {
	Store  store.Store
	Sender *Sender
	Logger *slog.Logger
	// Poll is how often the store is asked for due deliveries; 1 s when
	// zero. Deliveries recorded in this process wake it at once.
	Poll time.Duration
	// Backoff is the wait after a first failed attempt, doubled after each
	// further one up to MaxBackoff; 5 s and 10 min when zero.
	Backoff, MaxBackoff time.Duration
	// Concurrency bounds the attempts in flight; 4 when zero.
	Concurrency int
	// Metrics, when set, count the attempts.
	Metrics *Metrics

	once sync.Once
	wake chan struct{}
}

func (d *Dispatcher) init() {
	d.once.Do(func() { d.wake = make(chan struct{}, 1) })
}

// Wake makes the loop look for due deliveries now.
func (d *Dispatcher) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// Run delivers until ctx ends. Deliveries in flight then are put back as
// pending, for this process's next start or another process.
func (d *Dispatcher) Run(ctx context.Context) {
	d.init()
	poll := d.Poll
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
		for {
			n, err := d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.logger().Warn("deliver alerts", "error", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(poll)
	}
}

// claimBatch is how many deliveries one pass claims.
const claimBatch = 20

// DeliverDue claims the due deliveries once, attempts each and records
// the outcomes; it returns how many it attempted.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	workers := d.Concurrency
	if workers <= 0 {
		workers = 4
	}
	// The lease outlasts the longest attempt, so nobody else takes a
	// delivery still in flight.
	due, err := d.Store.ClaimAlertDeliveries(ctx, claimBatch, time.Now().Add(maxTimeout+time.Minute))
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func(del *store.AlertDelivery) {
			defer func() { <-sem; wg.Done() }()
			d.attempt(ctx, del)
		}(&due[i])
	}
	wg.Wait()
	return len(due), nil
}

func (d *Dispatcher) attempt(ctx context.Context, del *store.AlertDelivery) {
	log := d.logger().With("delivery_id", del.ID, "channel", del.ChannelName, "event", del.Event, "attempt", del.Attempts)
	typ, most, err := d.send(ctx, del)
	if ctx.Err() != nil {
		// Stopping: this attempt does not count.
		del.Status, del.Attempts = store.DeliveryPending, del.Attempts-1
		del.NextAttemptAt = time.Now()
		if err := d.Store.FinishAlertDelivery(context.WithoutCancel(ctx), del); err != nil {
			log.Warn("put delivery back", "error", err)
		}
		return
	}
	record(del, err, d.backoff(del.Attempts), most)
	d.Metrics.count(typ, string(del.Status), del.Status == store.DeliveryPending)
	if err != nil {
		log.Warn("alert delivery attempt failed", "status", del.Status, "error", err)
	} else {
		log.Info("alert delivered")
	}
	if err := d.Store.FinishAlertDelivery(context.WithoutCancel(ctx), del); err != nil {
		log.Error("record delivery outcome", "error", err)
	}
}

// record sets the outcome of an attempt on del.
func record(del *store.AlertDelivery, err error, backoff time.Duration, most int) {
	at := time.Now()
	switch {
	case err == nil:
		del.Status, del.LastError, del.SentAt = store.DeliverySent, "", &at
	case Retryable(err) && del.Attempts < most:
		del.Status, del.LastError = store.DeliveryPending, err.Error()
		del.NextAttemptAt = at.Add(backoff)
	default:
		del.Status, del.LastError = store.DeliveryFailed, err.Error()
		if Retryable(err) {
			del.LastError = fmt.Sprintf("gave up after %d attempts: %s", del.Attempts, err)
		}
	}
}

func (d *Dispatcher) backoff(attempts int) time.Duration {
	base, most := d.Backoff, d.MaxBackoff
	if base <= 0 {
		base = 5 * time.Second
	}
	if most <= 0 {
		most = 10 * time.Minute
	}
	b := base
	for i := 1; i < attempts && b < most; i++ {
		b *= 2
	}
	return min(b, most)
}

// send makes the attempt; it returns the channel's type and max_attempts
// with the outcome.
func (d *Dispatcher) send(ctx context.Context, del *store.AlertDelivery) (string, int, error) {
	c, err := d.Store.AlertChannel(ctx, del.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, permanent(fmt.Errorf("channel %s was deleted", del.ChannelName))
	} else if err != nil {
		return "", DefaultMaxAttempts, err
	}
	ch, err := ParseChannel(c)
	if err != nil {
		return c.Type, 0, permanent(fmt.Errorf("channel %s settings: %w", c.Name, err))
	}
	var e Event
	if err := json.Unmarshal(del.Payload, &e); err != nil {
		return c.Type, 0, permanent(fmt.Errorf("stored event: %w", err))
	}
	n := &Notification{DeliveryID: del.ID, Attempt: del.Attempts, SentAt: time.Now().UTC().Truncate(time.Second), Event: e}
	return c.Type, ch.MaxAttempts(), d.sender().Send(ctx, ch, n)
}

func (d *Dispatcher) sender() *Sender {
	if d.Sender == nil {
		return &Sender{}
	}
	return d.Sender
}

// SendTest sends a test notification through the channel at once, one
// attempt, and records it as a delivery either way.
func SendTest(ctx context.Context, st store.AlertStore, s *Sender, c *store.AlertChannel) (*store.AlertDelivery, error) {
	ch, err := ParseChannel(c)
	if err != nil {
		return nil, err
	}
	e := TestEvent(c.Name)
	payload, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	// Recorded once the attempt is over, with its outcome: a test never
	// waits in the store for the delivery loop.
	del := &store.AlertDelivery{ID: uuid.NewString(), ChannelID: c.ID, ChannelName: c.Name, Event: Test, Payload: payload, Attempts: 1}
	sendErr := s.Send(ctx, ch, &Notification{DeliveryID: del.ID, Attempt: 1, SentAt: time.Now().UTC().Truncate(time.Second), Event: e})
	record(del, sendErr, 0, 1)
	if _, err := st.AddAlertDeliveries(context.WithoutCancel(ctx), []*store.AlertDelivery{del}); err != nil {
		return nil, err
	}
	return del, nil
}
