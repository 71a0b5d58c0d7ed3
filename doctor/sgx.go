package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cpuInfo is what the checks need from /proc/cpuinfo: the flags of the first
// processor (all processors of a machine share them).
type cpuInfo struct {
	flags map[string]bool
	err   error
}

func (e *env) cpuInfo() *cpuInfo {
	if e.cpu != nil {
		return e.cpu
	}
	c := &cpuInfo{flags: map[string]bool{}}
	b, err := e.readFile("/proc/cpuinfo")
	if err != nil {
		c.err = err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			c.flags[f] = true
		}
		break
	}
	e.cpu = c
	return c
}

// hasSGX reports whether the CPU flags include sgx; SGX checks that depend on
// it are skipped otherwise.
func (e *env) hasSGX() bool { return e.cpuInfo().flags["sgx"] }

// confidentialVM reports whether the node looks like a TDX or SEV-SNP guest.
func (e *env) confidentialVM() bool {
	f := e.cpuInfo().flags
	return f["tdx_guest"] || f["sev_snp"] || e.exists("/dev/tdx_guest") || e.exists("/dev/sev-guest")
}

// checkSGXCPU: the sgx and sgx_lc (Flexible Launch Control, which DCAP needs)
// CPU flags.
func checkSGXCPU(_ context.Context, e *env) Result {
	const id = "sgx.cpu"
	c := e.cpuInfo()
	switch {
	case c.err != nil:
		return fail(id, "cannot read /proc/cpuinfo: "+errText(c.err), "run on the node, or mount the host's / and pass --root")
	case c.flags["sgx"] && c.flags["sgx_lc"]:
		return ok(id, "CPU flags sgx and sgx_lc present")
	case c.flags["sgx"]:
		return fail(id, "CPU flag sgx present but sgx_lc (Flexible Launch Control) missing: DCAP attestation needs it",
			"enable SGX Launch Control (\"SGX LC\"/\"unlocked\") in the BIOS, or use a VM size with FLC (Azure DCsv3/DCdsv3)")
	case e.confidentialVM():
		return warn(id, "no sgx CPU flag: this is a confidential VM (TDX/SEV-SNP guest), not an SGX machine",
			"ignore the SGX checks for VM-level attestation; for enclaves, use an SGX node (Azure DCsv3/DCdsv3)")
	}
	return fail(id, "no sgx CPU flag: SGX is not available to this machine",
		"enable SGX in the BIOS (bare metal) or use an SGX VM size (Azure DCsv3/DCdsv3); a kernel >= 5.11 lists the flag")
}

// device describes one SGX device node.
type device struct {
	path string
	// needOthers: the node must be usable by non-root users that are not in
	// its group (sgx_enclave is 0666 on Intel's and Azure's setups).
	needOthers bool
}

var (
	inKernelDevices = []device{{"/dev/sgx_enclave", true}, {"/dev/sgx_provision", false}}
	legacyDevices   = []device{{"/dev/sgx/enclave", true}, {"/dev/sgx/provision", false}}
)

// devState is one device node's presence and mode.
type devState struct {
	path, target string
	fi           fs.FileInfo
}

func (e *env) device(p string) (devState, bool) {
	t, fi, err := e.stat(p)
	if err != nil {
		return devState{}, false
	}
	return devState{path: p, target: t, fi: fi}, true
}

// kindProblem returns why fi is not an acceptable device node, or "".
// Under a root other than "/" regular files stand in for device nodes.
func (e *env) kindProblem(d devState) string {
	m := d.fi.Mode()
	if m&fs.ModeCharDevice != 0 {
		return ""
	}
	if !e.realRoot && m.IsRegular() {
		return ""
	}
	return fmt.Sprintf("%s is not a character device (%s)", d.path, m.Type())
}

// permProblem returns why d cannot be opened read-write by the pods that need
// it, or "".
func permProblem(d devState, dev device) string {
	perm := d.fi.Mode().Perm()
	gid := -1
	if st, ok := d.fi.Sys().(*syscall.Stat_t); ok {
		gid = int(st.Gid)
	}
	switch {
	case dev.needOthers && perm&0o006 != 0o006:
		return fmt.Sprintf("%s mode %04o: not readable and writable by other users (non-root enclaves cannot open it)", d.path, perm)
	case !dev.needOthers && perm&0o060 != 0o060 && perm&0o006 != 0o006:
		return fmt.Sprintf("%s mode %04o (group %d): only root can open it (the quoting enclave's user needs group read-write)", d.path, perm, gid)
	}
	return ""
}

// checkSGXDevices: /dev/sgx_enclave and /dev/sgx_provision (in-kernel driver,
// Linux >= 5.11), else the legacy DCAP driver's /dev/sgx/* or the EPID-only
// /dev/isgx, with modes usable by the pods that need them.
func checkSGXDevices(_ context.Context, e *env) Result {
	const id = "sgx.devices"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	standIn := ""
	if !e.realRoot {
		standIn = " (under --root, regular files stand in for device nodes)"
	}
	check := func(devs []device) (found []string, problems []string, missing []string) {
		for _, dev := range devs {
			d, present := e.device(dev.path)
			if !present {
				missing = append(missing, dev.path)
				continue
			}
			found = append(found, dev.path)
			if p := e.kindProblem(d); p != "" {
				problems = append(problems, p)
			} else if p := permProblem(d, dev); p != "" {
				problems = append(problems, p)
			}
		}
		return
	}
	found, problems, missing := check(inKernelDevices)
	if len(found) > 0 {
		switch {
		case len(missing) > 0:
			return fail(id, strings.Join(missing, ", ")+" missing"+standIn,
				"use a kernel >= 5.11 with CONFIG_X86_SGX (both nodes appear together); in a pod, mount both devices (the device plugin does)")
		case len(problems) > 0:
			return warn(id, problems[0]+standIn,
				"set udev rules as Intel's packages do: sgx_enclave 0666, sgx_provision 0660 group sgx_prv (add the quoting user or the pod's supplementalGroups)")
		}
		return ok(id, "/dev/sgx_enclave and /dev/sgx_provision present with usable modes (in-kernel driver)"+standIn)
	}
	found, problems, _ = check(legacyDevices)
	if len(found) > 0 {
		if len(problems) > 0 {
			return warn(id, problems[0]+standIn, "fix the device modes, and move to the in-kernel driver (Linux >= 5.11)")
		}
		return warn(id, "only the legacy DCAP driver's "+strings.Join(found, ", ")+" present"+standIn,
			"move to a kernel >= 5.11 (in-kernel SGX driver: /dev/sgx_enclave, /dev/sgx_provision); the out-of-tree DCAP driver is no longer maintained")
	}
	if _, present := e.device("/dev/isgx"); present {
		return fail(id, "only /dev/isgx (the out-of-tree EPID driver, no Flexible Launch Control) present"+standIn,
			"uninstall the isgx driver and use a kernel >= 5.11 (in-kernel SGX driver); DCAP needs /dev/sgx_enclave and /dev/sgx_provision")
	}
	return fail(id, "no SGX device node (/dev/sgx_enclave, /dev/sgx/enclave, /dev/isgx)"+standIn,
		"use a kernel >= 5.11 with CONFIG_X86_SGX; in a pod, request the EPC resource so the device plugin mounts the devices")
}

// checkSGXEPC: the EPC size from sysfs (/sys/devices/system/node/node*/x86/sgx_total_bytes,
// Linux >= 6.0).
func checkSGXEPC(_ context.Context, e *env) Result {
	const id = "sgx.epc"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	files, _ := filepath.Glob(e.path("/sys/devices/system/node/node*/x86/sgx_total_bytes"))
	if len(files) == 0 {
		return warn(id, "the kernel does not expose the EPC size (no /sys/devices/system/node/node*/x86/sgx_total_bytes; Linux < 6.0)",
			"nothing to do if enclaves start; on Kubernetes the device plugin's allocatable EPC tells the size")
	}
	var total uint64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(id, "cannot read "+f+": "+errText(err), "run as root on the node")
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return fail(id, "malformed "+f, "report a kernel bug")
		}
		total += n
	}
	if total == 0 {
		return fail(id, "EPC size is 0 bytes", "set the PRM/EPC size in the BIOS (bare metal), or choose a VM size with EPC")
	}
	return ok(id, fmt.Sprintf("EPC %d MiB over %d NUMA node(s)", total>>20, len(files)))
}

// AESMSocket is where the AESM service (out-of-process quoting) listens.
const AESMSocket = "/var/run/aesmd/aesm.socket"

// checkAESM: the AESM socket, needed for out-of-process quote generation.
func checkAESM(_ context.Context, e *env) Result {
	const id = "sgx.aesm"
	if !e.hasSGX() {
		return skipped(id, "no sgx CPU flag")
	}
	_, fi, err := e.stat(AESMSocket)
	if err != nil {
		return warn(id, AESMSocket+" missing: out-of-process quoting (AESM) is not available",
			"install and start sgx-aesm-service with the ECDSA plugins (libsgx-aesm-ecdsa-plugin, libsgx-aesm-quote-ex-plugin), mount /var/run/aesmd into the pod; or quote in-process (libsgx-dcap-ql) as the AKS quote helper does")
	}
	if fi.Mode()&fs.ModeSocket == 0 && (e.realRoot || !fi.Mode().IsRegular()) {
		return fail(id, AESMSocket+" is not a socket ("+fi.Mode().Type().String()+")", "restart aesmd (systemctl restart aesmd) so it recreates the socket")
	}
	standIn := ""
	if !e.realRoot && fi.Mode()&fs.ModeSocket == 0 {
		standIn = " (under --root, a regular file stands in for the socket)"
	}
	return ok(id, AESMSocket+" present"+standIn)
}

func errText(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
