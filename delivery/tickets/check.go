package tickets

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
)

// Check verifies at startup that Jira answers, accepts the credentials and
// has each project tickets go to (the SecOps project and the given team
// projects). Every problem is reported, each naming the setting to fix;
// the caller logs them as warnings and starts anyway, since items wait in
// the outbox until Jira works.
func (h *Handler) Check(ctx context.Context, projects ...string) error {
	if _, err := h.jira.Myself(ctx); err != nil {
		return checkProblem(err)
	}
	all := slices.Clone(projects)
	if h.cfg.SecOpsProject != "" {
		all = append(all, h.cfg.SecOpsProject)
	}
	slices.Sort(all)
	var errs []error
	for _, p := range slices.Compact(all) {
		if p == "" {
			continue
		}
		ok, err := h.jira.ProjectExists(ctx, p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("jira project %s: %w", p, checkProblem(err)))
		case !ok:
			errs = append(errs, fmt.Errorf("jira project %s (jira_project of a team or secops) does not exist or is not visible to the account of jira.api_token", p))
		}
	}
	return errors.Join(errs...)
}

// checkProblem puts the setting to fix first.
func checkProblem(err error) error {
	var je *tracker.Error
	if !errors.As(err, &je) {
		return err
	}
	switch {
	case errors.Is(err, tracker.ErrUnauthorized):
		return fmt.Errorf("jira.api_token rejected (%d): %w", je.Status, err)
	case errors.Is(err, tracker.ErrForbidden):
		return fmt.Errorf("jira.api_token lacks permission (%d): %w", je.Status, err)
	case errors.Is(err, tracker.ErrNotFound):
		return fmt.Errorf("jira.base_url has no Jira REST API (%d; check jira.flavor too): %w", je.Status, err)
	case je.Status == 0:
		return fmt.Errorf("jira.base_url unreachable: %w", err)
	}
	return fmt.Errorf("jira.base_url answered %d: %w", je.Status, err)
}
