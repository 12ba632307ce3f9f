package engineslots

import (
	"errors"
	"testing"
)

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status int32
		want   error
	}{
		{statusOK, nil},
		{statusNoCapacity, ErrNoCapacity},
		{statusInvalid, ErrInvalid},
		{statusTableFull, ErrTableFull},
		{statusExists, ErrExists},
		{statusNotFound, ErrNotFound},
		{statusStale, ErrStale},
		{statusIO, ErrIO},
		{statusCorrupt, ErrCorrupt},
		{statusInternal, ErrInternal},
		{statusNull, ErrInternal}, // the binding never passes NULL: a bug
		{-55, ErrInternal},        // unknown status
	}
	for _, c := range cases {
		got := statusErr(c.status)
		wantErr(t, "statusErr", got, c.want)
	}
	// The header's values are fixed by the contract.
	if statusOK != 0 || statusNoCapacity != 1 || statusNull != -1 || statusInvalid != -2 ||
		statusTableFull != -3 || statusExists != -4 || statusNotFound != -5 ||
		statusStale != -6 || statusIO != -7 || statusCorrupt != -8 || statusInternal != -100 {
		t.Fatal("es_status values differ from the contract")
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := []error{ErrNoCapacity, ErrInvalid, ErrTableFull, ErrExists, ErrNotFound,
		ErrStale, ErrClosed, ErrIO, ErrCorrupt, ErrInternal}
	for i, a := range all {
		if a == nil || a.Error() == "" {
			t.Fatalf("sentinel %d is empty", i)
		}
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Fatalf("%v matches %v", a, b)
			}
		}
	}
}
