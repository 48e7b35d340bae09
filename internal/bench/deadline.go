package bench

import (
	"context"
	"errors"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/asagent/asagent/internal/asclient"
)

// virtualDeadlines is the engine's AS client with every call's deadline
// kept on the experiment's clock. The engine bounds its calls with
// clockwork.WithTimeout and WithDeadline, which on any clock but
// clockwork's own FakeClock are real-time contexts: they carry the right
// deadline (the AS client reads it to bound its retries) but would end by
// the real clock. Each call here gets a context that ends when the
// experiment's clock reaches that deadline. With the real clock (a
// synctest bubble) the two agree and this changes nothing.
type virtualDeadlines struct {
	c     *asclient.Client
	clock clockwork.Clock
}

func (v virtualDeadlines) HeldHooks(ctx context.Context, groupID, instanceID string) ([]asclient.HeldHook, error) {
	ctx, stop := v.bound(ctx)
	defer stop()
	return v.c.HeldHooks(ctx, groupID, instanceID)
}

func (v virtualDeadlines) ListHooks(ctx context.Context, groupID string) ([]asclient.Hook, error) {
	ctx, stop := v.bound(ctx)
	defer stop()
	return v.c.ListHooks(ctx, groupID)
}

func (v virtualDeadlines) Callback(ctx context.Context, cb asclient.Callback) error {
	ctx, stop := v.bound(ctx)
	defer stop()
	return v.c.Callback(ctx, cb)
}

// projectSize counts the project's instances, for the group groupID's agent.
func (v virtualDeadlines) projectSize(groupID string) func(context.Context) (asclient.ProjectSize, error) {
	return func(ctx context.Context) (asclient.ProjectSize, error) {
		ctx, stop := v.bound(ctx)
		defer stop()
		return v.c.ProjectSize(ctx, groupID)
	}
}

// bound returns ctx ending at its deadline by v.clock. The real-time
// deadlines of ctx and its parents are left out: virtual time may lag real
// time for a while (a large fleet's first wave), and they would then end a
// call early. Their earliest is ctx's deadline, which this clock enforces.
func (v virtualDeadlines) bound(ctx context.Context) (context.Context, func()) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	cctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stopParent := context.AfterFunc(ctx, func() {
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			cancel(err)
		}
	})
	t := v.clock.AfterFunc(deadline.Sub(v.clock.Now()), func() { cancel(context.DeadlineExceeded) })
	return clockDeadline{cctx, deadline}, func() {
		t.Stop()
		stopParent()
		cancel(nil)
	}
}

// clockDeadline is a context cancelled at its deadline by an experiment's
// clock: it reports that deadline, and DeadlineExceeded once it has passed.
type clockDeadline struct {
	context.Context
	deadline time.Time
}

func (c clockDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

func (c clockDeadline) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}
