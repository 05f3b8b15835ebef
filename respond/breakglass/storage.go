package breakglass

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/secops-bot/secops-bot/store"
)

// KV namespace and keys.
const (
	kvNS    = "breakglass"
	openKey = "open" // IDs of requests that are not final
)

// Requests are documents at "req/<id>"; the IDs of the requests that are
// not final or still need cleanup are one list at openKey. The list stays
// one document, not one key per request: it holds only the few live
// requests, and its compare-and-set is what makes the duplicate check of
// two submissions racing on two replicas see one another.
func (s *Service) requests() *store.Doc[Request] { return store.NewDoc[Request](s.Store, kvNS) }

func (s *Service) openIndex() *store.Doc[[]string] { return store.NewDoc[[]string](s.Store, kvNS) }

func requestKey(id string) string { return "req/" + id }

// create stores a new request and adds it to the index of open requests.
func (s *Service) create(ctx context.Context, r Request) error {
	r.Version = 1
	if err := s.requests().Create(ctx, requestKey(r.ID), r); err != nil {
		return fmt.Errorf("store request %s: %w", r.ID, err)
	}
	// The request counts once it is in the open index. Looking for a
	// duplicate within the index's compare-and-set makes two submissions
	// racing on two replicas file one request: the second to write the
	// index sees the first. A refused request's row stays behind, never
	// indexed and so never acted on.
	var dup *DuplicateError
	err := s.editIndex(ctx, func(ids *[]string) error {
		dup = nil
		if slices.Contains(*ids, r.ID) {
			return store.ErrUnchanged
		}
		for _, id := range *ids {
			o, err := s.load(ctx, id)
			if err == nil && o.Requester == r.Requester && o.Account == r.Account && o.Level == r.Level && !o.State.Final() {
				dup = &DuplicateError{Existing: o}
				return store.ErrUnchanged
			}
		}
		*ids = append(*ids, r.ID)
		return nil
	})
	if err != nil {
		return err
	}
	if dup != nil {
		return dup
	}
	return nil
}

// load reads a request.
func (s *Service) load(ctx context.Context, id string) (Request, error) {
	r, err := s.requests().Get(ctx, requestKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return Request{}, fmt.Errorf("load %s: %w", clipText(id, 40), ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("load request %s: %w", id, err)
	}
	return r, nil
}

// update applies fn to the current request and writes it back only if
// nobody else wrote in between; otherwise it re-reads and applies fn
// again, so fn always decides on the latest state. fn returning an error
// aborts; the request as last read is returned with it.
func (s *Service) update(ctx context.Context, id string, fn func(*Request) error) (Request, error) {
	var fnErr error
	r, err := s.requests().Update(ctx, requestKey(id), func(r *Request) error {
		if fnErr = fn(r); fnErr != nil {
			return fnErr
		}
		r.Version++
		return nil
	})
	switch {
	case fnErr != nil:
		return r, fnErr
	case errors.Is(err, store.ErrNotFound):
		return r, fmt.Errorf("load %s: %w", clipText(id, 40), ErrNotFound)
	case err != nil:
		return r, fmt.Errorf("update request %s: %w", id, err)
	}
	return r, nil
}

// editIndex changes the list of open request IDs with compare-and-set; fn
// returns store.ErrUnchanged to leave it as it is.
func (s *Service) editIndex(ctx context.Context, fn func(ids *[]string) error) error {
	if _, err := s.openIndex().Upsert(ctx, openKey, fn); err != nil {
		return fmt.Errorf("update open requests: %w", err)
	}
	return nil
}

// openIDs lists the requests that are not final or still need cleanup.
func (s *Service) openIDs(ctx context.Context) ([]string, error) {
	ids, err := s.openIndex().Get(ctx, openKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load open requests: %w", err)
	}
	return ids, nil
}

// forget drops a request from the open index once nothing more will
// happen to it.
func (s *Service) forget(ctx context.Context, id string) {
	err := s.editIndex(ctx, func(ids *[]string) error {
		if !slices.Contains(*ids, id) {
			return store.ErrUnchanged
		}
		*ids = slices.DeleteFunc(*ids, func(x string) bool { return x == id })
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", id).Msg("drop request from the open index")
	}
}
