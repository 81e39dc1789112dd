# The interface people use. Each target installs what it needs first (scripts/setup.sh),
# so `make demo` and `make test` work on a fresh Debian 12 machine.
#
#   make demo [DURATION=s] [DEVICES=n]   the whole platform on this machine
#   make test                            every test, under ASan and UBSan
#   make bench [B=name]                  benchmarks (bench/README.md)
#   make fuzz [FUZZ_SECONDS=s] [F=name]  libFuzzer on every parser
#   make soak [SOAK_SECONDS=s]           the chaos tests, long
#   make footprint                       SDK flash and RAM on Cortex-M4 and RV32IMC
#   make images | deploy-check | compose containers and deployment files (docs/deploy.md)
#   make clean

JOBS        ?= $(shell nproc)
BUILD       := build
CMAKE_FLAGS ?=

.PHONY: all setup build build-asan web demo test bench fuzz soak footprint clean images deploy-check compose

all: build

setup:
	@scripts/setup.sh

# Configure every time: it is quick, and it notices directories that gained a
# CMakeLists.txt since the last run.
build: setup
	@cmake -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/release -j $(JOBS)

build-asan: setup
	@cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DCORIO_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/asan -j $(JOBS)

web: setup
	@if [ -f web/package.json ]; then cd web && npm run --silent build; fi

demo: build web
	@scripts/demo.sh $(BUILD)/release $(if $(DURATION),--duration $(DURATION)) $(if $(DEVICES),--devices $(DEVICES))

test: build-asan web
	cd $(BUILD)/asan && ctest --output-on-failure --timeout 900 -j $(JOBS)

bench: build
	@bench/run.sh $(BUILD)/release $(B)

fuzz: setup
	CC=clang cmake -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=Debug -DCORIO_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)/fuzz -j $(JOBS) --target fuzz_targets
	@tests/fuzz/run.sh $(BUILD)/fuzz $(or $(FUZZ_SECONDS),300) $(F)

soak: build-asan
	cd $(BUILD)/asan && CORIO_SOAK_SECONDS=$(or $(SOAK_SECONDS),1800) ctest --output-on-failure -L soak --timeout 0

footprint: setup
	@scripts/footprint.sh $(BUILD)/footprint

# Container images (deploy/images; podman, or CONTAINER_ENGINE=docker) [IMAGES="cloud gateway"]
images: web
	@deploy/images/build.sh $(IMAGES)

# The deployment files checked offline against the built programs (also ctest e2e.deploy_manifests)
deploy-check: build
	node deploy/check/check.mjs --bin $(BUILD)/release/bin

# The platform on this machine in containers (deploy/compose)
compose: images
	podman-compose -f deploy/compose/compose.yaml up -d

clean:
	rm -rf $(BUILD) web/dist
