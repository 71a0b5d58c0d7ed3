package storetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// bbolt page layout (go.etcd.io/bbolt/internal/common/page.go): a 16-byte
// header (id u64, flags u16, count u16, overflow u32), then for a branch page
// count elements of 16 bytes (pos u32, ksize u32, pgid u64).
const (
	boltPageHeader  = 16
	boltBranchFlag  = 0x01
	boltBranchElem  = 16
	boltElemPgidOff = 8
)

// DamagedBolt writes a bbolt store of n audit entries (in one commit, so
// that every branch page in the file is reachable) to path, then flips bit
// 24 of the first child page id of its first branch page, so that the child
// lies far beyond the file: the damage of issue 13 that made attestd
// segfault. It returns the damaged page's id.
func DamagedBolt(t testing.TB, path string, n int) uint64 {
	t.Helper()
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ch store.Change
	for i := range n {
		ch.Audit = append(ch.Audit, audit.Record{Time: t0.Add(time.Duration(i) * time.Second), Actor: "storetest",
			Action: audit.ActionRegister, App: "shop", Release: fmt.Sprintf("r%06d", i),
			Details: map[string]string{"mrenclave": Measurement(i)}})
	}
	if _, err := s.Commit(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The page size is in the meta page (page 0): after the 16-byte page
	// header, magic u32, version u32, pageSize u32.
	pageSize := int(binary.LittleEndian.Uint32(b[boltPageHeader+8:]))
	if pageSize < 512 || len(b)%pageSize != 0 {
		t.Fatalf("%s: page size %d does not fit the file (%d bytes)", path, pageSize, len(b))
	}
	for off := 2 * pageSize; off+pageSize <= len(b); off += pageSize {
		h := b[off:]
		id := binary.LittleEndian.Uint64(h)
		flags := binary.LittleEndian.Uint16(h[8:])
		count := binary.LittleEndian.Uint16(h[10:])
		if flags != boltBranchFlag || id != uint64(off/pageSize) || count == 0 {
			continue
		}
		at := off + boltPageHeader + boltElemPgidOff
		binary.LittleEndian.PutUint64(b[at:], binary.LittleEndian.Uint64(b[at:])^(1<<24))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return id
	}
	t.Fatalf("%s: no branch page among %d pages (write more entries)", path, len(b)/pageSize)
	return 0
}
