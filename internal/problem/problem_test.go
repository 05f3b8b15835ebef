package problem

import "testing"

func TestList(t *testing.T) {
	var sub List
	sub.Addf("id", "%q is not an account ID", "12")
	sub.Addf(Index("levels", 1)+".name", "required")
	sub.Addf("", "the block is empty")
	var ps List
	ps.Nest(Index("accounts", 0), sub)
	ps.Nest("", List{{Key: "[2]", Msg: "listed twice"}})
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"nested key", ps[0].String(), `accounts[0].id: "12" is not an account ID`},
		{"nested index", ps[1].String(), "accounts[0].levels[1].name: required"},
		{"the block itself", ps[2].String(), "accounts[0]: the block is empty"},
		{"no prefix", ps[3].String(), "[2]: listed twice"},
		{"join an index", Join("canary.accounts", "[3]"), "canary.accounts[3]"},
		{"one problem per line", ps[:2].Err().Error(), "accounts[0].id: \"12\" is not an account ID\naccounts[0].levels[1].name: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	if err := (List{}).Err(); err != nil {
		t.Errorf("an empty list is %v, want no error", err)
	}
}
