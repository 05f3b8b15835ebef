package memory

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// uuidSet is a set of packed UUIDs: the event IDs a replay has seen,
// asked about twice for every event. A general map hashes each key
// through a function call and probes control bytes before the key; here
// a key is mixed into its slot with one multiplication and probed
// linearly in one flat table, which a replay of millions of events
// reaches mostly with one cache miss per lookup.
//
// The mix is keyed with random bits, so that event IDs chosen to collide
// (the input is only as trustworthy as whoever can write to the trail)
// cannot be known in advance.
type uuidSet struct {
	slots []uuid // a zero slot is empty
	n     int
	zero  bool // the all-zero UUID, which an empty slot cannot hold
	k0    uint64
	k1    uint64
}

type uuid = [16]byte

func newUUIDSet() *uuidSet {
	var k [16]byte
	_, _ = rand.Read(k[:]) // never fails
	return &uuidSet{
		slots: make([]uuid, 1024),
		k0:    binary.LittleEndian.Uint64(k[:8]) | 1,
		k1:    binary.LittleEndian.Uint64(k[8:]),
	}
}

func (s *uuidSet) slot(u *uuid, mask uint64) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(u[:8])^s.k0, binary.LittleEndian.Uint64(u[8:])^s.k1)
	return (hi ^ lo) & mask
}

// has reports whether u is in the set.
func (s *uuidSet) has(u uuid) bool {
	if u == (uuid{}) {
		return s.zero
	}
	mask := uint64(len(s.slots) - 1)
	for i := s.slot(&u, mask); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case u:
			return true
		case uuid{}:
			return false
		}
	}
}

// add puts u in the set and reports whether it was not there before.
func (s *uuidSet) add(u uuid) bool {
	if u == (uuid{}) {
		was := s.zero
		s.zero = true
		return !was
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := s.slot(&u, mask); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case u:
			return false
		case uuid{}:
			s.slots[i] = u
			s.n++
			return true
		}
	}
}

// grow doubles the table.
func (s *uuidSet) grow() {
	old := s.slots
	s.slots = make([]uuid, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for k := range old {
		if old[k] == (uuid{}) {
			continue
		}
		i := s.slot(&old[k], mask)
		for s.slots[i] != (uuid{}) {
			i = (i + 1) & mask
		}
		s.slots[i] = old[k]
	}
}
