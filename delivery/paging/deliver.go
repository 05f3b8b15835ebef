package paging

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// Action is what a delivery asks of the provider.
type Action string

// Actions.
const (
	ActionTrigger     Action = "trigger"
	ActionAcknowledge Action = "acknowledge"
	ActionResolve     Action = "resolve"
)

// KindPrefix starts the outbox kinds of pages; Kind(action) is one of
// them.
const KindPrefix = "page."

// Kind is the outbox kind of an action ("page.trigger").
func Kind(a Action) string { return KindPrefix + string(a) }

// ItemKey is the outbox key of an action on a page at a version of its
// finding, so each change is delivered once, and a finding that reopens
// triggers again.
func ItemKey(a Action, ref Ref, version int) string {
	return Kind(a) + "|" + ref.DedupKey + "|v" + strconv.Itoa(version)
}

// Payload is the JSON body of a page outbox item: the page as it was when
// the change was stored. A trigger carries the whole page; acknowledge and
// resolve need only its Ref and finding ID.
type Payload struct {
	Action Action `json:"action"`
	Page   Page   `json:"page"`
}

// Encode returns the payload's JSON.
func (p Payload) Encode() []byte {
	b, _ := json.Marshal(p) // only strings, numbers and maps of strings
	return b
}

// Deliverer carries out page outbox items through a Pager. Its errors keep
// the Pager's kinds: *RateLimitedError, *PermanentError (also for a payload
// it cannot read), or another error to retry.
type Deliverer struct {
	pager Pager
	name  string
}

// NewDeliverer returns a Deliverer sending through pager; name
// ("PagerDuty") goes into its own errors.
func NewDeliverer(pager Pager, name string) *Deliverer {
	return &Deliverer{pager: pager, name: name}
}

// Deliver carries out one item of kind (one of Kind's answers).
func (d *Deliverer) Deliver(ctx context.Context, kind string, body []byte) error {
	switch kind {
	case Kind(ActionTrigger):
		return d.Trigger(ctx, body)
	case Kind(ActionAcknowledge):
		return d.Acknowledge(ctx, body)
	case Kind(ActionResolve):
		return d.Resolve(ctx, body)
	}
	return &PermanentError{Provider: d.name, Op: "deliver " + kind, Msg: "not a page kind"}
}

// Trigger raises the page in the payload.
func (d *Deliverer) Trigger(ctx context.Context, body []byte) error {
	p, err := d.decode(ActionTrigger, body)
	if err != nil {
		return err
	}
	return d.pager.Trigger(ctx, p.Page)
}

// Acknowledge acknowledges the page in the payload.
func (d *Deliverer) Acknowledge(ctx context.Context, body []byte) error {
	p, err := d.decode(ActionAcknowledge, body)
	if err != nil {
		return err
	}
	return d.pager.Acknowledge(ctx, p.Page.Ref)
}

// Resolve resolves the page in the payload.
func (d *Deliverer) Resolve(ctx context.Context, body []byte) error {
	p, err := d.decode(ActionResolve, body)
	if err != nil {
		return err
	}
	return d.pager.Resolve(ctx, p.Page.Ref)
}

func (d *Deliverer) decode(want Action, body []byte) (Payload, error) {
	var p Payload
	op := string(want)
	if err := json.Unmarshal(body, &p); err != nil {
		return Payload{}, &PermanentError{Provider: d.name, Op: op, Msg: fmt.Sprintf("payload cannot be read: %v", err)}
	}
	if p.Page.DedupKey != "" {
		op += " " + p.Page.DedupKey
	}
	switch {
	case p.Action != want:
		return Payload{}, &PermanentError{Provider: d.name, Op: op, Msg: fmt.Sprintf("payload is for %q", p.Action)}
	case p.Page.DedupKey == "" || p.Page.Team == "":
		return Payload{}, &PermanentError{Provider: d.name, Op: op, Msg: "payload lacks the team or the dedup key"}
	case want == ActionTrigger && p.Page.Summary == "":
		return Payload{}, &PermanentError{Provider: d.name, Op: op, Msg: "payload lacks the summary"}
	}
	return p, nil
}
