package blocks

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// Action IDs of the containment buttons. The picker's buttons are
// ActionContainPreview + "." + the action ID (action IDs must be unique in
// a message) and carry the finding ID; Undo and Retry carry the record ID.
// Both are pointers only: the handler reloads and re-authorises.
//
// An undo of a target changed since the run is confirmed in a modal of its
// own (CallbackContainUndo), whose private_metadata is the record ID and
// the fingerprint of the state shown; ActionContainUndoReview reopens it
// from a private message when it could not be opened at once.
const (
	ActionContainPreview    = "containment.preview"
	ActionContainUndo       = "containment.undo"
	ActionContainUndoReview = "containment.undo_review"
	ActionContainRetry      = "containment.retry"
	CallbackContain         = "containment.confirm"
	CallbackContainUndo     = "containment.undo_confirm"
	BlockContainActions     = "containment.actions"
)

// maxDocument bounds a policy document shown in a preview so that every
// call of an action fits one modal section.
const maxDocument = 2400

// ContainPicker lists the actions that fit a finding, each with a Preview
// button; it is the ephemeral answer to the Contain… button.
func ContainPicker(f finding.Finding, offers []containment.Offer) (text string, blocks []slack.Block) {
	if len(offers) == 0 {
		text = "No containment action fits " + f.ID + "."
		return text, []slack.Block{section(":information_source: No vetted containment action fits " + code(f.ID) + " (" + esc(resourceLabel(f.Resource.Type)) + ").")}
	}
	text = fmt.Sprintf("%d containment actions fit %s", len(offers), f.ID)
	blocks = append(blocks, section("*Contain* "+code(f.ID)+": "+esc(clip(titleOf(f), 200))+"\nEach action shows the exact AWS calls before anything runs."))
	for _, o := range offers {
		if len(blocks) >= maxMessageBlocks {
			break
		}
		s := section("*" + esc(o.Action.Title) + "* " + code(o.Action.ID) + "\n" + esc(clip(o.Action.Summary, 600)) + "\nTarget: " + targetText(o.Target))
		s.Accessory = slack.NewAccessory(button(ActionContainPreview+"."+o.Action.ID, "Preview", f.ID, slack.StyleDefault))
		blocks = append(blocks, s)
	}
	return text, blocks
}

// targetText names a containment target for people.
func targetText(t containment.Target) string {
	s := esc(resourceLabel(t.Type)) + " " + code(clip(t.ID, 200)) + " in " + code(t.AccountID)
	if t.Region != "" {
		s += " (" + esc(t.Region) + ")"
	}
	if len(t.Accounts) > 0 {
		s += ", removing " + code(clip(strings.Join(t.Accounts, ", "), 300))
	}
	if t.AccessKeyID != "" {
		s += ", key " + code(t.AccessKeyID)
	}
	return s
}

// callText renders one API call with its parameters and document.
func callText(c containment.Call) string {
	var b strings.Builder
	b.WriteString(code(c.API))
	for _, p := range c.Params {
		b.WriteString("\n• " + esc(p.Name) + ": " + code(clip(p.Value, 300)))
	}
	if c.Document != "" {
		b.WriteString("\n" + codeSection("Document:", c.Document, maxDocument))
	}
	return b.String()
}

// ContainConfirmModal is the confirmation dialog: what will run, where, the
// exact calls and documents, and what to know first. Its private_metadata
// is the record ID; the submission handler re-authorises and runs it.
func ContainConfirmModal(rec containment.Record, a containment.Action) slack.ModalViewRequest {
	blocks := []slack.Block{
		section("*" + esc(firstNonEmpty(a.Title, rec.Action)) + "* " + code(rec.Action) + "\nTarget: " + targetText(rec.Target)),
	}
	if rec.Plan.NoOp {
		blocks = append(blocks, section(":white_check_mark: Already contained: running it again changes nothing."))
	}
	for i, c := range rec.Plan.Calls {
		if len(blocks) >= maxModalBlocks-4 {
			blocks = append(blocks, section(fmt.Sprintf("…and %d more calls.", len(rec.Plan.Calls)-i)))
			break
		}
		blocks = append(blocks, section(fmt.Sprintf("*Call %d of %d*\n", i+1, len(rec.Plan.Calls))+callText(c)))
	}
	if len(rec.Plan.Notes) > 0 {
		var notes []string
		for _, n := range rec.Plan.Notes {
			notes = append(notes, "• "+esc(n))
		}
		blocks = append(blocks, section(":warning: "+strings.Join(notes, "\n")))
	}
	undo := "Undo re-adds only what this removes; changes made later stay."
	if a.UndoAdminOnly {
		undo += " Only an admin can undo this action."
	}
	blocks = append(blocks, contextBlock(undo, "Needs "+esc(clip(strings.Join(a.Permissions, ", "), 1500))))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackContain,
		Title:           plain("Confirm containment"),
		Submit:          plain("Run it"),
		Close:           plain("Cancel"),
		PrivateMetadata: rec.ID,
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// ErrNoRecord is returned for a confirmation without a record ID.
var ErrNoRecord = errors.New("no containment record in the view")

// ReadContainConfirm returns the record ID a confirmation carries. It is a
// pointer only: the handler must load the record and authorise the user.
func ReadContainConfirm(v slack.View) (string, error) {
	id := strings.TrimSpace(v.PrivateMetadata)
	if id == "" {
		return "", ErrNoRecord
	}
	return id, nil
}

// ContainResult is the thread reply after a run or an undo: what changed
// (or the AWS error in plain words), who did it, and the next button (Undo
// after a success, Retry after a failure).
func ContainResult(rec containment.Record, a containment.Action, loc *time.Location) (text string, blocks []slack.Block) {
	title := firstNonEmpty(a.Title, rec.Action)
	var lines []string
	var next *slack.ButtonBlockElement
	switch rec.State {
	case containment.StateApplied:
		summary := ""
		if rec.Outcome != nil {
			summary = rec.Outcome.Summary
		}
		text = "Contained: " + title
		lines = append(lines, ":shield: *"+esc(title)+"* done by "+who(rec.RanBy)+" at "+localTime(rec.RanAt, loc)+".")
		if summary != "" {
			lines = append(lines, quote(summary))
		}
		if rec.Outcome != nil && len(rec.Outcome.Calls) > 0 {
			var apis []string
			for _, c := range rec.Outcome.Calls {
				apis = append(apis, code(c.API))
			}
			lines = append(lines, "Calls: "+strings.Join(apis, ", "))
		}
		if a.UndoAdminOnly {
			lines = append(lines, "_Undo needs an admin._")
		}
		next = button(ActionContainUndo, "Undo", rec.ID, slack.StyleDefault)
	case containment.StateFailed:
		text = "Containment failed: " + title
		lines = append(lines, ":x: *"+esc(title)+"* failed when "+who(rec.RanBy)+" ran it.")
		lines = append(lines, quote(firstNonEmpty(rec.Error, "unknown error")))
		next = button(ActionContainRetry, "Retry", rec.ID, slack.StyleDanger)
	case containment.StateUndone:
		text = "Undone: " + title
		lines = append(lines, ":leftwards_arrow_with_hook: *"+esc(title)+"* undone by "+who(rec.UndoneBy)+" at "+localTime(rec.UndoneAt, loc)+".")
		if rec.UndoOutcome != nil && rec.UndoOutcome.Summary != "" {
			lines = append(lines, quote(rec.UndoOutcome.Summary))
		}
	default:
		text = title + ": " + string(rec.State)
		lines = append(lines, "*"+esc(title)+"* is "+esc(string(rec.State))+".")
	}
	lines = append(lines, "Target: "+targetText(rec.Target))
	blocks = append(blocks, section(strings.Join(lines, "\n")))
	if rec.Error != "" && rec.State == containment.StateApplied {
		blocks = append(blocks, contextBlock(":warning: Last undo failed: "+esc(clip(rec.Error, 500))))
	}
	if next != nil {
		blocks = append(blocks, slack.NewActionBlock(BlockContainActions, next))
	}
	blocks = append(blocks, contextBlock("Record "+code(rec.ID)))
	return text, blocks
}

// undoReviewBlocks say what changed in the target since the run, what undo
// would call, and what it leaves as it is.
func undoReviewBlocks(rec containment.Record, a containment.Action, limit int) []slack.Block {
	review := rec.UndoReview
	blocks := []slack.Block{
		section("*Undo: " + esc(firstNonEmpty(a.Title, rec.Action)) + "* " + code(rec.Action) + "\nTarget: " + targetText(rec.Target)),
	}
	var changes []string
	for _, c := range review.Changes {
		changes = append(changes, "• "+esc(clip(c, 300)))
	}
	blocks = append(blocks, section(":warning: *The target changed after "+who(rec.RanBy)+" contained it:*\n"+clip(strings.Join(changes, "\n"), 2500)))
	if len(review.Calls) == 0 {
		blocks = append(blocks, section("Undo makes no call in AWS: what the containment changed was changed again since, or is undone already. It only marks the containment undone."))
	}
	for i, c := range review.Calls {
		if len(blocks) >= limit-3 {
			blocks = append(blocks, section(fmt.Sprintf("…and %d more calls.", len(review.Calls)-i)))
			break
		}
		blocks = append(blocks, section(fmt.Sprintf("*Undo call %d of %d*\n", i+1, len(review.Calls))+callText(c)))
	}
	if len(review.Notes) > 0 {
		var notes []string
		for _, n := range review.Notes {
			notes = append(notes, "• "+esc(clip(n, 300)))
		}
		blocks = append(blocks, section("*Left as it is:*\n"+clip(strings.Join(notes, "\n"), 2500)))
	}
	ctx := "Undo re-adds only what the containment removed and keeps every later change."
	if a.UndoAdminOnly {
		ctx += " Only an admin can undo this action."
	}
	return append(blocks, contextBlock(ctx, "Record "+code(rec.ID)))
}

// ContainUndoModal asks to confirm an undo after the target changed since
// the run: the changes, the calls undo would make and what it leaves as it
// is. Its private_metadata is the record ID and the fingerprint of the
// state shown, so the confirmation holds for that state only.
func ContainUndoModal(rec containment.Record, a containment.Action) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackContainUndo,
		Title:           plain("Confirm undo"),
		Submit:          plain("Undo"),
		Close:           plain("Cancel"),
		PrivateMetadata: rec.ID + "|" + rec.UndoReview.State,
		Blocks:          slack.Blocks{BlockSet: undoReviewBlocks(rec, a, maxModalBlocks)},
	}
}

// ContainUndoReview is the private answer to Undo when the modal could not
// be opened: the same content and a button that opens it.
func ContainUndoReview(rec containment.Record, a containment.Action) (text string, blocks []slack.Block) {
	blocks = undoReviewBlocks(rec, a, maxMessageBlocks-1)
	blocks = append(blocks, slack.NewActionBlock(BlockContainActions, button(ActionContainUndoReview, "Review and undo…", rec.ID, slack.StyleDanger)))
	return "The target of " + rec.ID + " changed after the containment; review before undoing.", blocks
}

// ReadContainUndoConfirm returns the record ID and the state fingerprint an
// undo confirmation carries; pointers only, checked again by the service.
func ReadContainUndoConfirm(v slack.View) (id, state string, err error) {
	id, state, ok := strings.Cut(strings.TrimSpace(v.PrivateMetadata), "|")
	if !ok || id == "" || state == "" {
		return "", "", ErrNoRecord
	}
	return id, state, nil
}
