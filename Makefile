# sgxops — see README.md. All targets work offline once modules are cached.
GO ?= go
## VERSION: image tag and chart appVersion (deploy/helm/sgxops/Chart.yaml).
VERSION ?= 0.1.0
## The corpus of real quotes: ../shared/corpus when present, else the cache `make corpus` fills
## (keyed by the manifest's hash); SGXOPS_CORPUS set in the environment wins.
CORPUS_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sgxops-corpus/$(shell sha256sum internal/corpusfetch/manifest/manifest.json | cut -c1-16)
export SGXOPS_CORPUS ?= $(if $(wildcard ../shared/corpus/phala-dcap-qvl/sgx_quote),$(abspath ../shared/corpus),$(CORPUS_CACHE))

.PHONY: all build corpus demo test test-deps vet fmt-check goimports-check lint fuzz bench load generate manifests chart-manifests images e2e clean

all: build

build:
	$(GO) build ./...

## demo: the one-machine story (simulated platform, attestd, blue/green rollout).
demo:
	$(GO) run ./cmd/sgxops demo

## test: every test: unit, corpus, JS interop, envtest (a real kube-apiserver + etcd), Helm chart checks,
## the fuzz targets, the attestd load harness (prints its figures; fails on failed requests), and the
## real-cluster E2E (make e2e; skipped loudly without root). Installs what the tests need first (test-deps);
## the Kubernetes tests are required here (SGXOPS_REQUIRE_K8S=1): they fail rather than skip.
T := ./scripts/timed.sh
test: test-deps
	KUBEBUILDER_ASSETS=$$(./scripts/k8s/install-control-plane.sh) HELM=$$(./scripts/install-tools.sh helm)/helm \
	TOFU=$$(./scripts/install-tools.sh tofu)/tofu \
	SGXOPS_REQUIRE_K8S=1 SGXOPS_REQUIRE_INTEROP=1 $(T) "go test ./..." $(GO) test -count=1 -timeout 40m ./...
	$(T) fuzz env SGXOPS_REQUIRE_INTEROP=1 $(MAKE) fuzz
	$(T) "attestd load harness" $(GO) run ./cmd/attestd-load
	$(T) e2e $(MAKE) e2e

## test-deps: the corpus (make corpus, when neither ../shared/corpus nor the cache has it), npm packages of
## the interop tests, kube-apiserver + etcd + kubectl for envtest (built from the module proxy once, 9-20 min
## cold), helm, controller-gen and OpenTofu (built once; tofu ~7 min cold, for `tofu fmt -check` of
## deploy/terraform); all cached and idempotent.
test-deps:
	@if [ -e "$(SGXOPS_CORPUS)/phala-dcap-qvl/sgx_quote" ]; then :; \
	elif [ "$(SGXOPS_CORPUS)" = "$(CORPUS_CACHE)" ]; then $(T) "test deps: corpus" $(MAKE) --no-print-directory corpus; \
	else echo "SGXOPS_CORPUS=$(SGXOPS_CORPUS) holds no corpus (no phala-dcap-qvl/sgx_quote); unset it to use the cache make corpus fills" >&2; exit 1; fi
	$(T) "test deps: npm" ./scripts/install-test-deps.sh
	$(T) "test deps: kube-apiserver, etcd" ./scripts/k8s/install-control-plane.sh >/dev/null
	$(T) "test deps: helm, controller-gen, tofu" ./scripts/install-tools.sh controller-gen helm tofu >/dev/null

## corpus: download each verbatim corpus file from its public origin at the pinned commit into
## $(CORPUS_CACHE), check its pinned SHA-256 (internal/corpusfetch/manifest/manifest.json), rebuild the derived
## files (collateral bundles, extracted CRL, SEV-SNP derivatives) and print `export SGXOPS_CORPUS=...`.
## Needs network access; fails naming the first URL it could not fetch. CORPUS_BASE_URL serves the origin
## files from a mirror (BASE/owner/name/commit/path). The tests need nothing else: their case tables are
## internal/corpus's. CORPUS_INDEX_FROM=DIR also copies the curated index of an existing corpus (cases.json,
## sev-snp/cases.json, PROVENANCE.md: written by its curators, no public origin). make test runs this when
## no corpus is found.
corpus:
	$(GO) run ./internal/corpusfetch/cmd/sgxops-corpus -dir $(CORPUS_CACHE) $(if $(CORPUS_BASE_URL),-base-url $(CORPUS_BASE_URL)) $(if $(CORPUS_INDEX_FROM),-index-from $(CORPUS_INDEX_FROM))

## e2e: the whole story in a real single-node Kubernetes cluster on this machine (root; see scripts/e2e.sh).
e2e:
	VERSION=$(VERSION) ./scripts/e2e.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## goimports-check: imports grouped as goimports -local writes them (standard library, others, then this
## module), goimports v0.49.0 built once by scripts/install-tools.sh; generated files are left out.
## `goimports -local github.com/sgxops/sgxops -w FILE` fixes a file it lists.
goimports-check:
	@gi=$$(./scripts/install-tools.sh goimports)/goimports && \
	out=$$($$gi -local github.com/sgxops/sgxops -l $$(git ls-files '*.go' | xargs grep -L '^// Code generated .* DO NOT EDIT\.$$')); \
	if [ -n "$$out" ]; then echo "goimports needed:"; echo "$$out"; exit 1; fi

lint: vet fmt-check goimports-check

## fuzz: every fuzz target for a bounded time (FUZZTIME, default 10s each).
FUZZTIME ?= 10s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## load: attestd load harness on loopback (floor vs HTTP at c16/c64, open loop at 80% of peak).
## Exits 1 when a goal is missed (make test runs it without --check, reporting only).
load:
	$(GO) run ./cmd/attestd-load --check

generate:
	$(GO) generate ./...

## manifests: deepcopy code, CRDs (config/crd/bases) and operator RBAC (config/rbac) from the API types and
## RBAC markers, with controller-gen (built once from the module proxy by scripts/install-tools.sh).
manifests:
	@cg=$$(./scripts/install-tools.sh controller-gen)/controller-gen && \
	$$cg object paths=./api/... && \
	$$cg crd paths=./api/... output:crd:artifacts:config=config/crd/bases && \
	if [ -d internal/controller ]; then $$cg rbac:roleName=sgxops-operator paths=./internal/controller/... output:rbac:artifacts:config=config/rbac; fi
	$(MAKE) chart-manifests

## chart-manifests: copy the generated CRDs and operator RBAC into the Helm chart (test/chart checks they match).
CHART := deploy/helm/sgxops
chart-manifests:
	rm -f $(CHART)/crds/*.yaml && cp config/crd/bases/*.yaml $(CHART)/crds/
	cp config/rbac/role.yaml $(CHART)/files/operator-role.yaml

## images: OCI image tarballs bin/images/{attestd,operator,sgxops,sample}.tar, tagged sgxops.local/NAME:$(VERSION),
## built without Docker or a registry (cmd/sgxops-images); reproducible (SOURCE_DATE_EPOCH or the commit time).
## Load one into a node with: ctr -n k8s.io images import bin/images/attestd.tar
images:
	$(GO) run ./cmd/sgxops-images --out bin/images --version $(VERSION)

clean:
	$(GO) clean -testcache
