package bot

import (
	"context"
	"time"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// Checker decides whether a user holds a role, at the moment of asking.
type Checker interface {
	Check(ctx context.Context, who authz.Actor, role authz.Role) (authz.Decision, error)
}

// Services are the domain services the bot drives.
type Services struct {
	Store        Store
	Authz        Checker
	Triage       Triage
	Investigator Investigator
	// Wake asks the outbox to deliver a change just stored at once (the
	// outbox Runtime's Wake); nil leaves it to the next poll.
	Wake func()
}

// feature is one thing the bot does in Slack. Routes adds its commands,
// buttons and modals to the router, all in one place.
type feature interface {
	Routes(r *Router)
}

// Attach gives the bot the services it drives. Attach and the Enable…
// calls only record what this deployment has, in any order; Run builds the
// routes from it. Call them all before Run.
func (b *Bot) Attach(svc Services) {
	b.kit.Services = svc
	b.threads.kv = svc.Store
}

// EnableContainment turns on the Contain… button, the containment buttons
// and modal, and /secops contain.
func (b *Bot) EnableContainment(svc *containment.Service) {
	b.containment = svc
}

// EnablePlaybooks turns on the checklist buttons and returns the outbox
// lane that starts runs and fires their escalations (KindPlaybookPrefix).
// With containment enabled too, a step's containment previews in the
// confirmation modal, and containment run from the picker ticks its step.
func (b *Bot) EnablePlaybooks(r *playbooks.Runner) outbox.Lane {
	b.runner = r
	return (&playbookStarts{kit: b.kit, api: b.api, runner: r}).lane()
}

// EnableBreakGlass turns on the break-glass commands (/secops breakglass,
// /secops audit breakglass), buttons and modals.
func (b *Bot) EnableBreakGlass(svc *breakglass.Service, notify *BreakGlassSlack) {
	h := &breakGlass{kit: b.kit, svc: svc, loc: time.UTC}
	if notify != nil {
		h.loc = notify.location()
	}
	b.breakGlass = h
}

// EnableStepUp lets approvers set up the one-time codes that accounts
// with step_up on ask for.
func (b *Bot) EnableStepUp(e Enroller) { b.enroller = e }

// routes is the route table of this deployment: each enabled feature adds
// its routes. The order of the list does not matter; a route two features
// both add is an error.
func (b *Bot) routes() (*Router, error) {
	r := newRouter(webAnswerer{api: b.api}, b.log)
	inv := investigation{b.kit}
	con := &contain{kit: b.kit, svc: b.containment, runner: b.runner}
	features := []feature{
		help{enabled: r.Commands},
		findings{b.kit},
		inv,
		review{kit: b.kit, reads: b.exposure},
		con,
	}
	if b.exposure != nil {
		features = append(features, exposureReads{kit: b.kit, svc: b.exposure})
	}
	if b.runner != nil {
		features = append(features, &checklist{kit: b.kit, runner: b.runner, contain: con, investigate: inv, teamID: b.teamID, users: b.dir})
	}
	if b.breakGlass != nil {
		b.breakGlass.enrol = b.enroller
		features = append(features, b.breakGlass)
	}
	if b.onCall != nil {
		features = append(features, onCall{kit: b.kit, src: b.onCall})
	}
	for _, f := range features {
		f.Routes(r)
	}
	return r, r.Err()
}
