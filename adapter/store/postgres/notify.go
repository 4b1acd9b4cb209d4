package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Notifier carries PostgreSQL notifications (LISTEN/NOTIFY) between
// instances: a token revoked or a tenant disabled on one instance, a
// change to deliver, reach every other one within moments. It keeps one
// connection of its own listening on its channels and reconnects when
// that connection is lost. A notification sent while an instance was not
// listening is not replayed, so after every (re)connection the Notifier
// calls its OnListen hook, where users re-read the state they cache.
type Notifier struct {
	dsn      string
	channels []string
	handle   func(channel, payload string)
	onListen func()
	log      *zap.Logger
	retry    time.Duration

	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

// NotifierOptions configure a Notifier.
type NotifierOptions struct {
	// DSN is the database to listen on.
	DSN string
	// Channels are the channels to listen on; names of letters, digits
	// and underscores.
	Channels []string
	// Handle is called for every notification, one at a time, in the
	// order they arrive.
	Handle func(channel, payload string)
	// OnListen is called after each connection starts listening, the first
	// included: notifications sent before it may have been missed.
	OnListen func()
	// Logger receives connection losses; defaults to a no-op.
	Logger *zap.Logger
	// Retry is the pause before reconnecting; defaults to 1 s.
	Retry time.Duration
}

// StartNotifier starts listening and returns once the first connection
// listens, or with the error that kept it from connecting.
func StartNotifier(ctx context.Context, o NotifierOptions) (*Notifier, error) {
	for _, c := range o.Channels {
		if !validChannel(c) {
			return nil, fmt.Errorf("notification channel %q: use letters, digits and underscores", c)
		}
	}
	if o.Handle == nil {
		return nil, errors.New("a notifier needs a Handle function")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	conn, err := listen(ctx, o.DSN, o.Channels)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	n := &Notifier{dsn: o.DSN, channels: o.Channels, handle: o.Handle, onListen: o.OnListen, log: o.Logger,
		retry: o.Retry, stop: stop, done: make(chan struct{})}
	if n.onListen != nil {
		n.onListen()
	}
	go n.run(runCtx, conn)
	return n, nil
}

func validChannel(c string) bool {
	if c == "" || len(c) > 63 {
		return false
	}
	for _, r := range c {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func listen(ctx context.Context, dsn string, channels []string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connecting to listen for notifications: %w", err)
	}
	for _, c := range channels {
		// Channel names were checked: they are safe as identifiers.
		if _, err := conn.Exec(ctx, `LISTEN "`+c+`"`); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("listening on %s: %w", c, err)
		}
	}
	return conn, nil
}

// run receives notifications until Close, reconnecting after a loss.
func (n *Notifier) run(ctx context.Context, conn *pgx.Conn) {
	defer close(n.done)
	for {
		err := n.receive(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("lost the notification connection; reconnecting", zap.Error(err))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(n.retry):
			}
			if conn, err = listen(ctx, n.dsn, n.channels); err == nil {
				break
			}
			n.log.Warn("reconnecting for notifications", zap.Error(err))
		}
		if n.onListen != nil {
			n.onListen()
		}
	}
}

func (n *Notifier) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.handle(note.Channel, note.Payload)
	}
}

// Close stops listening and waits until no Handle call runs.
func (n *Notifier) Close() {
	n.once.Do(func() {
		n.stop()
		<-n.done
	})
}

// Notify sends payload on channel to every instance listening, this one
// included, when the transaction db belongs to commits (at once for a
// connection or pool outside a transaction).
func Notify(ctx context.Context, db Querier, channel, payload string) error {
	if !validChannel(channel) {
		return fmt.Errorf("notification channel %q: use letters, digits and underscores", channel)
	}
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notifying %s: %w", channel, err)
	}
	return nil
}
