package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// OrgAccount is a member account of the organization.
type OrgAccount struct {
	ID     string
	Name   string
	Email  string
	Status string // ACTIVE unless set
	Joined time.Time
}

// Organizations fakes the Organizations API's account listing.
type Organizations struct {
	mu       sync.Mutex
	accounts []OrgAccount
	pageSize int
}

// NewOrganizations returns an organization holding accounts, listed
// pageSize at a time (10 when pageSize is 0), so pagination is exercised.
func NewOrganizations(pageSize int, accounts ...OrgAccount) *Organizations {
	if pageSize <= 0 {
		pageSize = 10
	}
	return &Organizations{accounts: append([]OrgAccount(nil), accounts...), pageSize: pageSize}
}

// AddAccount adds a member account.
func (f *Organizations) AddAccount(a OrgAccount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts = append(f.accounts, a)
}

type orgAccountJSON struct {
	ID              string  `json:"Id"`
	Arn             string  `json:"Arn"`
	Name            string  `json:"Name"`
	Email           string  `json:"Email"`
	Status          string  `json:"Status"`
	State           string  `json:"State"`
	JoinedMethod    string  `json:"JoinedMethod"`
	JoinedTimestamp float64 `json:"JoinedTimestamp"`
}

func (f *Organizations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := ActionOf("organizations", r)
	if action != "ListAccounts" {
		WriteError(w, "organizations", http.StatusBadRequest, "InvalidInputException", "unsupported action "+action)
		return
	}
	var in struct {
		NextToken  string
		MaxResults int
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			WriteError(w, "organizations", http.StatusBadRequest, "InvalidInputException", err.Error())
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(f.accounts) {
			WriteError(w, "organizations", http.StatusBadRequest, "InvalidInputException", "invalid NextToken")
			return
		}
		start = n
	}
	size := f.pageSize
	if in.MaxResults > 0 && in.MaxResults < size {
		size = in.MaxResults
	}
	end := min(start+size, len(f.accounts))
	out := struct {
		Accounts  []orgAccountJSON `json:"Accounts"`
		NextToken string           `json:"NextToken,omitempty"`
	}{Accounts: []orgAccountJSON{}}
	for _, a := range f.accounts[start:end] {
		status := a.Status
		if status == "" {
			status = "ACTIVE"
		}
		out.Accounts = append(out.Accounts, orgAccountJSON{
			ID: a.ID, Arn: "arn:aws:organizations::" + DefaultAccount + ":account/o-fake/" + a.ID,
			Name: a.Name, Email: a.Email, Status: status, State: status, JoinedMethod: "CREATED",
			JoinedTimestamp: float64(a.Joined.Unix()),
		})
	}
	if end < len(f.accounts) {
		out.NextToken = strconv.Itoa(end)
	}
	WriteJSON(w, out)
}
