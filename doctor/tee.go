package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TSMReportDir is configfs-tsm's report interface (Linux >= 6.7).
const TSMReportDir = "/sys/kernel/config/tsm/report"

// guestDevice checks a confidential-VM guest device: present and openable.
func guestDevice(e *env, id, dev, flag, tee, driver string) Result {
	flagged := e.cpuInfo().flags[flag]
	d, present := e.device(dev)
	standIn := ""
	if !e.realRoot {
		standIn = " (under --root, a regular file stands in for the device)"
	}
	switch {
	case !present && flagged:
		return fail(id, "CPU flag "+flag+" present but "+dev+" missing: the "+driver+" driver is not loaded",
			"modprobe "+driver+" (Linux >= 6.7 also offers configfs-tsm); in a pod, mount "+dev)
	case !present:
		return ok(id, "not a "+tee+" guest (no "+dev+")")
	}
	if p := e.kindProblem(d); p != "" {
		return fail(id, p, "recreate the device node (udev)")
	}
	if d.fi.Mode().Perm()&0o066 == 0 {
		return warn(id, fmt.Sprintf("%s mode %04o: only root can request reports%s", dev, d.fi.Mode().Perm(), standIn),
			"run the attester as root or give its group read-write access (udev rule)")
	}
	return ok(id, tee+" guest: "+dev+" present"+standIn)
}

// checkTDXGuest: /dev/tdx_guest (the tdx_guest driver).
func checkTDXGuest(_ context.Context, e *env) Result {
	return guestDevice(e, "tdx.guest", "/dev/tdx_guest", "tdx_guest", "TDX", "tdx_guest")
}

// checkSNPGuest: /dev/sev-guest (the sev-guest driver).
func checkSNPGuest(_ context.Context, e *env) Result {
	return guestDevice(e, "snp.guest", "/dev/sev-guest", "sev_snp", "SEV-SNP", "sev-guest")
}

// checkTSMReport: configfs-tsm. Under "/" a report is produced (an entry is
// created, 64 bytes of inblob written, outblob read, the entry removed); under
// another root only presence and writability are checked.
func checkTSMReport(_ context.Context, e *env) Result {
	const id = "tsm.report"
	dir := e.path(TSMReportDir)
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		if e.confidentialVM() {
			return warn(id, TSMReportDir+" missing: configfs-tsm is not available (Linux < 6.7, or configfs not mounted)",
				"mount configfs (mount -t configfs none /sys/kernel/config) on Linux >= 6.7, or use the guest device's ioctl")
		}
		return ok(id, "no configfs-tsm (not a confidential VM)")
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return fail(id, TSMReportDir+" is not writable", "run as root (report entries are created with mkdir)")
	}
	if !e.realRoot {
		return ok(id, TSMReportDir+" present and writable (under --root no report is produced)")
	}
	if os.Geteuid() != 0 {
		return warn(id, TSMReportDir+" present, but only root can create report entries: no report produced",
			"run sgxops doctor as root to check that a report can be produced")
	}
	if err := produceTSMReport(dir); err != nil {
		return fail(id, "configfs-tsm could not produce a report: "+shortErr(err),
			"check the guest driver (dmesg) and that the hypervisor supports report requests")
	}
	return ok(id, "configfs-tsm produced a report")
}

func produceTSMReport(dir string) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	entry := filepath.Join(dir, "sgxops-doctor-"+hex.EncodeToString(nonce[:]))
	if err := os.Mkdir(entry, 0o700); err != nil {
		return err
	}
	defer os.Remove(entry)
	in := make([]byte, 64)
	if err := os.WriteFile(filepath.Join(entry, "inblob"), in, 0o600); err != nil {
		return err
	}
	out, err := os.ReadFile(filepath.Join(entry, "outblob"))
	if err != nil {
		return err
	}
	if len(out) == 0 {
		return fmt.Errorf("empty outblob")
	}
	if p, err := os.ReadFile(filepath.Join(entry, "provider")); err == nil && strings.TrimSpace(string(p)) == "" {
		return fmt.Errorf("no provider")
	}
	return nil
}
