package finding

// ChangeKind says what happened to a finding. The pipeline reports it,
// every delivery planner (Slack, tickets, paging, assessment) decides from
// it what to post, and the outbox payloads carry it to the lanes that
// render it. The values are stored in outbox items, so they never change.
type ChangeKind string

// Changes raised by the pipeline as events arrive.
const (
	ChangeCreated  ChangeKind = "created"
	ChangeRepeated ChangeKind = "repeated"
	ChangeUpdated  ChangeKind = "updated"
	ChangeReopened ChangeKind = "reopened"
	ChangeResolved ChangeKind = "resolved"
	// ChangeRefreshed only moved a finding's counters (last seen, a
	// detector's re-import): the message is updated without a reply.
	ChangeRefreshed ChangeKind = "refreshed"
)

// Changes made by people from Slack.
const (
	ChangeAcknowledged ChangeKind = "acknowledged"
	ChangeSuppressed   ChangeKind = "suppressed"
	// ChangeExpected is a finding marked expected through the allowlist.
	ChangeExpected ChangeKind = "expected"
	// ChangeContained (a containment action ran) and ChangeUncontained (one
	// was undone) update the message in place without a reply: the
	// result, with its Undo button, is already in every thread.
	ChangeContained   ChangeKind = "contained"
	ChangeUncontained ChangeKind = "uncontained"
)

// Changes made by the bot's own work on a finding.
const (
	// ChangeAssessed is the resource's state read: the message is updated
	// without a reply.
	ChangeAssessed ChangeKind = "assessed"
	// ChangeRerouted is the resource's tags naming another owning team;
	// the note says which tag and where the finding now goes.
	ChangeRerouted ChangeKind = "rerouted"
	// ChangeTicketed is a ticket created: the message shows its link.
	ChangeTicketed ChangeKind = "ticketed"
	// ChangeReadsReviewed answers who read the resource while it was
	// exposed; ChangeReviewClosed is a person closing that review.
	ChangeReadsReviewed ChangeKind = "reads-reviewed"
	ChangeReviewClosed  ChangeKind = "review-closed"
	// ChangePage is a page sent, refused, acknowledged or resolved at the
	// paging provider; the note is the page's notice.
	ChangePage ChangeKind = "page"
)
