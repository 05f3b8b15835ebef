package grant

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

const (
	bgRole = "BreakGlassResponder"
	// roleMax is the role's maximum session in newWorld (7200 s).
	roleMax = 2 * time.Hour
	// slack is more than any margin the pruning may keep for clock skew:
	// a policy older than roleMax+slack must be gone.
	slack = 15 * time.Minute
)

// foreignPolicy is the role's own permissions, as break-glass roles
// usually carry: about 2,500 characters that are not ours to touch.
var foreignPolicy = func() string {
	var actions []string
	for i := range 90 {
		actions = append(actions, fmt.Sprintf(`"ec2:Describe%04d"`, i))
	}
	return `{"Version":"2012-10-17","Statement":[{"Sid":"Responder","Effect":"Allow","Action":[` + strings.Join(actions, ",") + `],"Resource":"*"}]}`
}()

// Policies that share a beginning with ours, or carry our prefix with a
// document the pruning cannot date.
const (
	lookalikeName   = "secops-breakglass-revoked-by-hand"
	unparseableName = RevokePolicyPrefix + "Ulegacy"
	containmentName = "secops-bot-revoke-older-sessions"
	unparseableDoc  = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"last Tuesday"}}}]}`
)

// lookalikeDoc dates from long ago, so only its name keeps it: it is not
// ours to delete (the containment catalogue's revoke-sessions policy has
// this shape too, and its undo deletes it).
var lookalikeDoc = RevokePolicy("U0OTHER", t0.Add(-30*24*time.Hour))

// seedRole replaces the break-glass role's inline policies.
func seedRole(w *world, pols map[string]string) {
	w.iam.AddRole(acct, awsfake.IAMRole{Name: bgRole, Path: "/breakglass/", MaxSessionDuration: int(roleMax / time.Second), Policies: pols})
}

func policies(t *testing.T, w *world) map[string]string {
	t.Helper()
	r, ok := w.iam.Role(acct, bgRole)
	if !ok {
		t.Fatal("the break-glass role is gone")
	}
	return r.Policies
}

func revokeAs(w *world, requester string) error {
	g := roleGrant(w.clk.Now().Add(30 * time.Minute))
	g.Requester, g.Now = requester, w.clk.Now()
	return w.p.Revoke(context.Background(), g)
}

func totalSize(pols map[string]string) int {
	n := 0
	for _, d := range pols {
		n += awsfake.PolicySize(d)
	}
	return n
}

func calls(w *world, action string) (ok, failed int) {
	for _, c := range w.srv.CallsTo("iam", action) {
		if c.Status == 200 {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

// TestRevokePoliciesStayWithinTheQuota revokes 40 distinct responders over
// several simulated days on one role: without pruning IAM would refuse a
// revocation before the fortieth (the test checks that it would).
func TestRevokePoliciesStayWithinTheQuota(t *testing.T) {
	w := newWorld(t)
	seedRole(w, map[string]string{"responder-permissions": foreignPolicy, lookalikeName: lookalikeDoc, containmentName: lookalikeDoc, unparseableName: unparseableDoc})
	base := totalSize(policies(t, w))
	const n = 40
	if one := awsfake.PolicySize(RevokePolicy("U0RESP0000", t0)); base+n*one <= awsfake.MaxRolePolicySize {
		t.Fatalf("%d revoke policies of %d characters fit next to %d characters: the test would pass without pruning", n, one, base)
	}

	revokedAt := map[string]time.Time{}
	for i := range n {
		who := fmt.Sprintf("U0RESP%04d", i)
		if err := revokeAs(w, who); err != nil {
			t.Fatalf("revocation %d (%s) at %s: %v", i+1, who, w.clk.Now().Format(time.RFC3339), err)
		}
		revokedAt[who] = w.clk.Now()
		now := w.clk.Now()
		pols := policies(t, w)

		if size := totalSize(pols); size > awsfake.MaxRolePolicySize {
			t.Fatalf("after revocation %d the role's inline policies take %d characters", i+1, size)
		}
		if pols["responder-permissions"] != foreignPolicy || pols[lookalikeName] != lookalikeDoc || pols[containmentName] != lookalikeDoc {
			t.Fatalf("after revocation %d the role's own policies changed: %v", i+1, keys(pols))
		}
		if pols[unparseableName] != unparseableDoc {
			t.Fatalf("after revocation %d the revoke policy without a readable date is gone", i+1)
		}
		for r, at := range revokedAt {
			present := len(revokePoliciesOf(pols, r)) > 0
			age := now.Sub(at)
			switch {
			case age < roleMax && !present:
				t.Fatalf("at %s the revoke policy of %s (revoked %s ago) is gone while a session of the role may still be live", now.Format(time.RFC3339), r, age)
			case age > roleMax+slack && present:
				t.Fatalf("at %s the revoke policy of %s (revoked %s ago) is still there", now.Format(time.RFC3339), r, age)
			}
		}

		// Mostly a revocation every 37 minutes; every tenth one a quiet
		// night follows.
		step := 37 * time.Minute
		if i%10 == 9 {
			step = 20 * time.Hour
		}
		w.clk.Advance(step)
	}
	if _, failed := calls(w, "PutRolePolicy"); failed != 0 {
		t.Errorf("IAM refused %d revocations", failed)
	}
	if got := w.clk.Now().Sub(t0); got < 72*time.Hour {
		t.Errorf("the run covered %s, want days", got)
	}
}

// revokePoliciesOf returns the names of requester's revoke policies.
func revokePoliciesOf(pols map[string]string, requester string) []string {
	var out []string
	for name := range pols {
		if who, _, ok := parseRevokePolicyName(name); ok && who == requester || name == RevokePolicyPrefix+requester {
			out = append(out, name)
		}
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRevokePrunes(t *testing.T) {
	ctx := context.Background()
	stale := RevokePolicy("U0STALE", t0.Add(-roleMax-time.Hour))
	fresh := RevokePolicy("U0FRESH", t0.Add(-10*time.Minute))
	// own is the policy revokeAs writes at t0; legacy the one-per-requester
	// name earlier versions wrote and replaced.
	own := revokePolicyName(requester, t0.Add(time.Second))
	legacy := RevokePolicyPrefix + requester
	staleByName := revokePolicyName("U0STALE", t0.Add(-roleMax-time.Hour))
	freshByName := revokePolicyName("U0FRESH", t0.Add(-10*time.Minute))
	// Roles holding as many revoke policies as fit, all stale or all
	// fresh.
	oldFull := fullRole(t, RevokePolicy("U0OLD", t0.Add(-roleMax-time.Hour)))
	newFull := fullRole(t, RevokePolicy("U0NEW", t0.Add(-30*time.Minute)))

	tests := []struct {
		name  string
		seed  map[string]string
		fault *awsfake.Fault
		// act is Grant or Revoke for requester.
		act         func(t *testing.T, w *world) error
		wantKept    []string
		wantGone    []string
		wantErr     string
		wantPuts    [2]int // successful, refused
		wantDeletes int    // DeleteRolePolicy calls
	}{
		{
			name:     "a revocation deletes stale policies and keeps fresh, foreign and unreadable ones",
			seed:     map[string]string{RevokePolicyPrefix + "U0STALE": stale, RevokePolicyPrefix + "U0FRESH": fresh, "responder-permissions": foreignPolicy, unparseableName: unparseableDoc},
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{RevokePolicyPrefix + "U0FRESH", "responder-permissions", unparseableName, own},
			wantGone: []string{RevokePolicyPrefix + "U0STALE"},
			wantPuts: [2]int{1, 0}, wantDeletes: 1,
		},
		{
			name: "a grant deletes stale policies too",
			seed: map[string]string{RevokePolicyPrefix + "U0STALE": stale, RevokePolicyPrefix + "U0FRESH": fresh, "responder-permissions": foreignPolicy},
			act: func(t *testing.T, w *world) error {
				_, err := w.p.Grant(ctx, roleGrant(t0.Add(30*time.Minute)))
				return err
			},
			wantKept:    []string{RevokePolicyPrefix + "U0FRESH", "responder-permissions"},
			wantGone:    []string{RevokePolicyPrefix + "U0STALE"},
			wantDeletes: 1,
		},
		{
			name:  "a grant goes on when pruning is not allowed",
			seed:  map[string]string{RevokePolicyPrefix + "U0STALE": stale},
			fault: &awsfake.Fault{Service: "iam", Action: "ListRolePolicies", Code: "AccessDenied", Status: 403, Times: -1},
			act: func(t *testing.T, w *world) error {
				_, err := w.p.Grant(ctx, roleGrant(t0.Add(30*time.Minute)))
				return err
			},
			wantKept: []string{RevokePolicyPrefix + "U0STALE"},
		},
		{
			name:     "a revocation goes on when pruning is not allowed",
			seed:     map[string]string{RevokePolicyPrefix + "U0STALE": stale},
			fault:    &awsfake.Fault{Service: "iam", Action: "GetRolePolicy", Code: "AccessDenied", Status: 403, Times: -1},
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{RevokePolicyPrefix + "U0STALE", own},
			wantPuts: [2]int{1, 0},
		},
		{
			name:     "policies dated by their names are pruned without reading them",
			seed:     map[string]string{staleByName: RevokePolicy("U0STALE", t0.Add(-roleMax-time.Hour)), freshByName: RevokePolicy("U0FRESH", t0.Add(-10*time.Minute))},
			fault:    &awsfake.Fault{Service: "iam", Action: "GetRolePolicy", Code: "AccessDenied", Status: 403, Times: -1},
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{freshByName, own},
			wantGone: []string{staleByName},
			wantPuts: [2]int{1, 0}, wantDeletes: 1,
		},
		{
			name: "the requester's earlier policies go only once the new one is in place",
			seed: map[string]string{
				legacy: RevokePolicy(requester, t0.Add(-30*time.Minute)),
				revokePolicyName(requester, t0.Add(-time.Minute)): RevokePolicy(requester, t0.Add(-time.Minute)),
				freshByName: RevokePolicy("U0FRESH", t0.Add(-10*time.Minute)),
			},
			act: func(t *testing.T, w *world) error {
				if err := revokeAs(w, requester); err != nil {
					return err
				}
				if p := policies(t, w)[own]; !strings.Contains(p, t0.Add(time.Second).Format(time.RFC3339)) {
					return fmt.Errorf("own policy = %s, want the new cut-off", p)
				}
				put := w.srv.CallsTo("iam", "PutRolePolicy")
				for _, d := range w.srv.CallsTo("iam", "DeleteRolePolicy") {
					if len(put) == 0 || d.At.Before(put[0].At) {
						return fmt.Errorf("a policy was deleted before the new one was put")
					}
				}
				return nil
			},
			wantKept: []string{own, freshByName},
			wantGone: []string{legacy, revokePolicyName(requester, t0.Add(-time.Minute))},
			wantPuts: [2]int{1, 0}, wantDeletes: 2,
		},
		{
			name:     "without the role's maximum session the longest STS issues is assumed",
			seed:     map[string]string{RevokePolicyPrefix + "U0STALE": stale, RevokePolicyPrefix + "U0ANCIENT": RevokePolicy("U0ANCIENT", t0.Add(-13*time.Hour))},
			fault:    &awsfake.Fault{Service: "iam", Action: "GetRole", Code: "AccessDenied", Status: 403, Times: -1},
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{RevokePolicyPrefix + "U0STALE", own},
			wantGone: []string{RevokePolicyPrefix + "U0ANCIENT"},
			wantPuts: [2]int{1, 0}, wantDeletes: 1,
		},
		{
			name:     "a role at the quota: refused, pruned, retried once",
			seed:     oldFull,
			fault:    &awsfake.Fault{Service: "iam", Action: "ListRolePolicies", Code: "AccessDenied", Status: 403, Times: 1},
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{"responder-permissions", own},
			wantGone: []string{RevokePolicyPrefix + "U0OLD000"},
			wantPuts: [2]int{1, 1}, wantDeletes: len(oldFull) - 1,
		},
		{
			name:     "a role at the quota with nothing stale: a plain error",
			seed:     newFull,
			act:      func(t *testing.T, w *world) error { return revokeAs(w, requester) },
			wantKept: []string{"responder-permissions", RevokePolicyPrefix + "U0NEW000"},
			wantGone: []string{own},
			wantErr: fmt.Sprintf("the break-glass role %s has too many revoke policies (%d named %s*)", bgRole, len(newFull)-1, RevokePolicyPrefix) +
				" or other inline policies for IAM's limit of 10240 characters per role, so the sessions were NOT revoked",
			wantPuts: [2]int{0, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			seedRole(w, tt.seed)
			if tt.fault != nil {
				w.srv.Inject(*tt.fault)
			}
			err := tt.act(t, w)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "LimitExceeded")) {
				t.Fatalf("error = %v\nwant it to contain %q and IAM's code", err, tt.wantErr)
			}
			pols := policies(t, w)
			for _, k := range tt.wantKept {
				if _, ok := pols[k]; !ok {
					t.Errorf("policy %s is missing", k)
				}
				if d, seeded := tt.seed[k]; seeded && k != own && pols[k] != d {
					t.Errorf("policy %s changed", k)
				}
			}
			for _, k := range tt.wantGone {
				if _, ok := pols[k]; ok {
					t.Errorf("policy %s is still there", k)
				}
			}
			if ok, refused := calls(w, "PutRolePolicy"); [2]int{ok, refused} != tt.wantPuts {
				t.Errorf("PutRolePolicy: %d accepted, %d refused; want %v", ok, refused, tt.wantPuts)
			}
			if ok, _ := calls(w, "DeleteRolePolicy"); ok != tt.wantDeletes {
				t.Errorf("DeleteRolePolicy calls = %d, want %d", ok, tt.wantDeletes)
			}
		})
	}
}

// fullRole is a role's policies with the role's own permissions and as
// many revoke policies shaped like doc as fit: the next revoke policy of a
// new requester does not.
func fullRole(t *testing.T, doc string) map[string]string {
	t.Helper()
	pols := map[string]string{"responder-permissions": foreignPolicy}
	who := doc[strings.Index(doc, `"aws:SourceIdentity":"`)+len(`"aws:SourceIdentity":"`):]
	who = who[:strings.Index(who, `"`)]
	for i := 0; ; i++ {
		r := fmt.Sprintf("%s%03d", who, i)
		d := strings.Replace(doc, `"`+who+`"`, `"`+r+`"`, 1)
		if totalSize(pols)+awsfake.PolicySize(d) > awsfake.MaxRolePolicySize {
			return pols
		}
		pols[RevokePolicyPrefix+r] = d
	}
}

func TestRevokeCutoff(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 24, 1, 0, time.UTC)
	tests := []struct {
		name    string
		doc     string
		want    time.Time
		wantErr bool
	}{
		{"as GetRolePolicy returns it, percent-encoded", url.QueryEscape(RevokePolicy("U0A", at)), at, false},
		{"plain JSON", RevokePolicy("U0A", at), at, false},
		{"a single statement, keys in other case", `{"Statement":{"Condition":{"datelessthan":{"AWS:TokenIssueTime":"2026-11-27T03:24:01Z"}}}}`, at, false},
		{"several dates: the latest", `{"Statement":[{"Condition":{"DateLessThan":{"aws:TokenIssueTime":["2026-11-27T01:00:00Z","2026-11-27T03:24:01Z"]}}}]}`, at, false},
		{"no cut-off", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`, time.Time{}, true},
		{"a date IAM reads but this does not", `{"Statement":[{"Condition":{"DateLessThan":{"aws:TokenIssueTime":"1764213841"}}}]}`, time.Time{}, true},
		{"not a policy", "%7Bnot%20json", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := revokeCutoff(tt.doc)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("revokeCutoff = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// holdDeletes is a transport that holds each DeleteRolePolicy request
// until released (or a timeout passes), telling the test when one is held.
type holdDeletes struct {
	next    http.RoundTripper
	held    chan string
	release chan struct{}
}

func (h *holdDeletes) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, _ := url.ParseQuery(string(body)); form.Get("Action") == "DeleteRolePolicy" {
			h.held <- form.Get("PolicyName")
			select {
			case <-h.release:
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return h.next.RoundTrip(r)
}

type accountsVia struct {
	accounts
	client *http.Client
}

func (a accountsVia) For(ctx context.Context, account string) (aws.Config, error) {
	cfg, err := a.accounts.For(ctx, account)
	cfg.HTTPClient = a.client
	return cfg, err
}

func (a accountsVia) ForAction(ctx context.Context, account string, s awsclient.Scope) (aws.Config, error) {
	cfg, err := a.accounts.ForAction(ctx, account, s)
	cfg.HTTPClient = a.client
	return cfg, err
}

// TestPruneDoesNotUndoARevocation runs two replicas on one role: replica
// A's pruning has found other's old policy stale and is about to delete
// it when replica B revokes other's sessions again. No lock spans
// replicas and IAM has no conditional delete; the revocation survives
// because it goes under a name of its own.
func TestPruneDoesNotUndoARevocation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	other := "U0OTHER"
	old := revokePolicyName(other, t0.Add(-3*roleMax))
	seedRole(w, map[string]string{old: RevokePolicy(other, t0.Add(-3*roleMax))})
	hold := &holdDeletes{next: w.srv.HTTPClient().Transport, held: make(chan string, 1), release: make(chan struct{})}
	replicaA := New(accountsVia{accounts{w.srv}, &http.Client{Transport: hold}}, w.clk, Options{FederationURL: w.fedS.URL + "/federation"})

	granted := make(chan error, 1)
	go func() { _, err := replicaA.Grant(ctx, roleGrant(t0.Add(30*time.Minute))); granted <- err }()
	if got := <-hold.held; got != old {
		t.Fatalf("held the deletion of %s", got)
	}
	// Replica B (w.p) revokes other's sessions now.
	if err := revokeAs(w, other); err != nil {
		t.Fatal(err)
	}
	close(hold.release)
	if err := <-granted; err != nil {
		t.Fatal(err)
	}
	pols := policies(t, w)
	doc, ok := pols[revokePolicyName(other, t0.Add(time.Second))]
	if !ok || !strings.Contains(doc, t0.Add(time.Second).Format(time.RFC3339)) {
		t.Fatalf("after the revocation the role's policies are %v, want %s's new one", keys(pols), other)
	}
	if _, ok := pols[old]; ok {
		t.Errorf("the superseded policy %s is still there", old)
	}
}
