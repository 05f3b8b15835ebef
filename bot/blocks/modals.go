package blocks

import (
	"errors"
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
)

// Callback IDs of the modals, which view submissions are routed by.
const (
	CallbackResolve  = "finding.resolve"
	CallbackExpected = "finding.expected"
)

// Block and action IDs of the modal inputs, for reading view state:
// state.Values[BlockResolveReason][ActionResolveReason].Value.
const (
	BlockResolveReason  = "resolve.reason"
	ActionResolveReason = "reason"

	BlockExpectedReason   = "expected.reason"
	ActionExpectedReason  = "reason"
	BlockExpectedScope    = "expected.scope"
	ActionExpectedScope   = "scope"
	BlockExpectedPattern  = "expected.pattern"
	ActionExpectedPattern = "pattern"
)

// Values of the "mark expected" scope choice.
const (
	ScopeResource = "resource"
	ScopePattern  = "pattern"
)

// maxReason bounds reasons so they fit the history, the ticket and a
// thread reply without cutting.
const maxReason = 2000

// ResolveModal asks why a finding is being resolved by hand. Its
// private_metadata is the finding ID only; the handler reloads the finding
// and checks the user when the modal is submitted.
func ResolveModal(findingID string) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("What was done, or why no action is needed"), ActionResolveReason)
	reason.Multiline = true
	reason.MaxLength = maxReason
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackResolve,
		Title:           plain("Resolve finding"),
		Submit:          plain("Resolve"),
		Close:           plain("Cancel"),
		PrivateMetadata: findingID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("Resolving " + code(findingID) + " closes it here and in the ticket. If the exposure is still there, the next event reopens it."),
			slack.NewInputBlock(BlockResolveReason, plain("Reason"), nil, reason),
		}},
	}
}

// ExpectedModal asks why an exposure is expected and how far the exception
// reaches: this resource only, or every resource whose name matches a
// pattern (prefilled with this resource's ID for editing).
func ExpectedModal(f finding.Finding) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("e.g. public website assets, approved in SEC-42"), ActionExpectedReason)
	reason.Multiline = true
	reason.MaxLength = maxReason

	thisOne := slack.NewOptionBlockObject(ScopeResource, plain("This resource only"), nil)
	pattern := slack.NewOptionBlockObject(ScopePattern, plain("A name pattern"), plain("Every resource of this type in this account whose name matches"))
	hint, initial := "e.g. public-assets-*", f.Resource.ID
	if f.Resource.ID == "" && !f.ReportsExposure() {
		// A Sigma finding about an action is keyed on who acted, and so
		// is what marking it expected covers.
		thisOne = slack.NewOptionBlockObject(ScopeResource, plain("This actor only"), nil)
		pattern = slack.NewOptionBlockObject(ScopePattern, plain("An ARN pattern"), plain("Every actor in this account whose ARN matches"))
		hint, initial = "e.g. arn:aws:iam::111122223333:role/deploy-*", f.Actor.ARN
	}
	scope := slack.NewRadioButtonsBlockElement(ActionExpectedScope, thisOne, pattern)
	scope.InitialOption = thisOne

	patternInput := slack.NewPlainTextInputBlockElement(plain(hint), ActionExpectedPattern)
	patternInput.InitialValue = clip(initial, 255)
	patternInput.MaxLength = 255

	summary := "*" + esc(clip(titleOf(f), 200)) + "*"
	switch {
	case f.Resource.ID != "":
		summary += "\n" + resourceLabel(f.Resource.Type) + " " + code(clip(f.Resource.ID, 200))
	case f.Actor.ARN != "" && !f.ReportsExposure():
		summary += "\nactor " + code(clip(f.Actor.ARN, 200))
	}
	if f.AccountID != "" {
		summary += " in " + esc(clip(firstNonEmpty(f.AccountName, f.AccountID), 100))
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackExpected,
		Title:           plain("Mark as expected"),
		Submit:          plain("Mark expected"),
		Close:           plain("Cancel"),
		PrivateMetadata: f.ID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(summary),
			slack.NewInputBlock(BlockExpectedReason, plain("Why is this expected?"), nil, reason),
			slack.NewInputBlock(BlockExpectedScope, plain("Applies to"), nil, scope),
			slack.NewInputBlock(BlockExpectedPattern, plain("Name pattern"),
				plain("Used only with \"A name pattern\"; * matches any characters."), patternInput).WithOptional(true),
		}},
	}
}

// Errors reading a submitted modal.
var (
	ErrNoFinding = errors.New("no finding id in the view")
	ErrNoReason  = errors.New("a reason is required")
	ErrNoPattern = errors.New("a name pattern is required for this scope")
)

// ResolveSubmission is what a submitted resolve modal carries. FindingID
// comes from private_metadata and is only a pointer: the handler must load
// the finding and authorise the user itself.
type ResolveSubmission struct {
	FindingID string
	Reason    string
}

// ReadResolve extracts a resolve modal's submission.
func ReadResolve(v slack.View) (ResolveSubmission, error) {
	s := ResolveSubmission{
		FindingID: strings.TrimSpace(v.PrivateMetadata),
		Reason:    strings.TrimSpace(inputValue(v.State, BlockResolveReason, ActionResolveReason).Value),
	}
	switch {
	case s.FindingID == "":
		return s, ErrNoFinding
	case s.Reason == "":
		return s, ErrNoReason
	}
	return s, nil
}

// ExpectedSubmission is what a submitted "mark expected" modal carries.
// Pattern is empty when the scope is this resource only.
type ExpectedSubmission struct {
	FindingID string
	Reason    string
	Scope     string
	Pattern   string
}

// ReadExpected extracts a "mark expected" modal's submission. A scope
// other than the two offered reads as this resource only, the narrower.
func ReadExpected(v slack.View) (ExpectedSubmission, error) {
	s := ExpectedSubmission{
		FindingID: strings.TrimSpace(v.PrivateMetadata),
		Reason:    strings.TrimSpace(inputValue(v.State, BlockExpectedReason, ActionExpectedReason).Value),
		Scope:     ScopeResource,
	}
	if inputValue(v.State, BlockExpectedScope, ActionExpectedScope).SelectedOption.Value == ScopePattern {
		s.Scope = ScopePattern
		s.Pattern = strings.TrimSpace(inputValue(v.State, BlockExpectedPattern, ActionExpectedPattern).Value)
	}
	switch {
	case s.FindingID == "":
		return s, ErrNoFinding
	case s.Reason == "":
		return s, ErrNoReason
	case s.Scope == ScopePattern && s.Pattern == "":
		return s, ErrNoPattern
	}
	return s, nil
}

func inputValue(state *slack.ViewState, block, action string) slack.BlockAction {
	if state == nil {
		return slack.BlockAction{}
	}
	return state.Values[block][action]
}
