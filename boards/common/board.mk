# What every board's Makefile shares: the runtime (boards/common) and its engine. Set before including:
#   BOARD_BUILD   output dir            CC, AR          the toolchain
#   BOARD_CFLAGS  target flags (-mcpu=..., -fPIC, -D overrides of wasm3_config.h)
#   ENGINE        wasm3 (default: interprets the module bytes it is given) or aot (build/device.wasm
#                 translated to C by wasm2c and compiled in: boards/common/gen-aot.mjs)
#   DEVICE_WASM   the module the aot engine compiles in (default build/device.wasm)
# Provides BOARD_RUNTIME_OBJS, BOARD_ENGINE_LIBS (link after the objects), WASM3_LIB and
# BOARD_INCLUDES; net_bsd.c is separate (BOARD_NET_BSD_OBJ) for boards with BSD sockets.
# The source lists are runtime.sources and engine-<ENGINE>.sources: boards/esp32 reads the same files.
BOARD_COMMON := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
ENGINE ?= wasm3
ifeq ($(filter $(ENGINE),wasm3 aot),)
$(error ENGINE=$(ENGINE): choose wasm3 or aot)
endif
DEVICE_WASM ?= $(abspath $(BOARD_COMMON)/../../build/device.wasm)
WASM3_BUILD := $(BOARD_BUILD)
WASM3_ARCH_CFLAGS := $(BOARD_CFLAGS)
WASM3_CONFIG := -include $(BOARD_COMMON)/wasm3_config.h
WASM3_CONFIG_DEPS := $(BOARD_COMMON)/wasm3_config.h
include $(BOARD_COMMON)/wasm3.mk

# OTA (outpost_ota.c): Ed25519 through Monocypher's curve code, fetched pinned like wasm3.
MONOCYPHER_SRC := $(shell $(BOARD_COMMON)/fetch-monocypher.sh)
ifeq ($(MONOCYPHER_SRC),)
$(error Monocypher sources unavailable: see the fetch-monocypher.sh message above)
endif
BOARD_OTA_OBJS := $(addprefix $(BOARD_BUILD)/common/,outpost_ota.o outpost_sha256.o outpost_ed25519.o outpost_inflate.o) $(BOARD_BUILD)/monocypher.o
BOARD_SLOTS_FILE_OBJ := $(BOARD_BUILD)/common/outpost_slots_file.o

BOARD_RUNTIME_SOURCES := $(shell cat $(BOARD_COMMON)/runtime.sources $(BOARD_COMMON)/engine-$(ENGINE).sources)
BOARD_INCLUDES := -I$(BOARD_COMMON) $(WASM3_INCLUDE) -I$(MONOCYPHER_SRC)
BOARD_RUNTIME_CFLAGS = -std=gnu11 -Os -g -Wall -Wextra -Wno-unused-parameter $(BOARD_CFLAGS) $(WASM3_CONFIG) $(BOARD_INCLUDES)
BOARD_RUNTIME_OBJS := $(patsubst %.c,$(BOARD_BUILD)/common/%.o,$(BOARD_RUNTIME_SOURCES))
BOARD_NET_BSD_OBJ := $(BOARD_BUILD)/common/net_bsd.o
BOARD_RUNTIME_DEPS := $(wildcard $(BOARD_COMMON)/*.h)

ifeq ($(ENGINE),aot)
# The translated module and wasm2c's runtime header, generated into the build directory.
AOT_DIR := $(BOARD_BUILD)/aot
AOT_GENERATED := $(AOT_DIR)/device.c $(AOT_DIR)/device.h $(AOT_DIR)/wasm-rt.h $(AOT_DIR)/outpost_aot_module.h
BOARD_INCLUDES += -I$(AOT_DIR)
BOARD_RUNTIME_DEPS += $(AOT_GENERATED)
BOARD_RUNTIME_OBJS += $(AOT_DIR)/device.o
BOARD_ENGINE_LIBS :=
# Every access bounds-checked (no guard pages on an MCU), call depth counted up to the module's deepest
# chain (outpost_aot_module.h). device.su (-fstack-usage) bounds its C stack: aot-stack.mjs.
AOT_CFLAGS ?= -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0 -DWASM_RT_USE_STACK_DEPTH_COUNT=1
BOARD_CFLAGS += $(AOT_CFLAGS)
$(AOT_GENERATED) &: $(DEVICE_WASM) $(BOARD_COMMON)/gen-aot.mjs $(BOARD_COMMON)/aot-stack.mjs
	node $(BOARD_COMMON)/gen-aot.mjs $(DEVICE_WASM) $(AOT_DIR)
# wasm2c's output: its own warnings off, asserts out (they would pull in stdio on an MCU).
$(AOT_DIR)/device.o: $(AOT_GENERATED)
	$(CC) -std=gnu11 $(AOT_OPT) -g -w -DNDEBUG -fstack-usage $(BOARD_CFLAGS) -I$(AOT_DIR) -include outpost_aot_module.h -c $< -o $@
AOT_OPT ?= -O2
else
BOARD_ENGINE_LIBS := $(WASM3_LIB)
endif

$(BOARD_BUILD)/common/%.o: $(BOARD_COMMON)/%.c $(BOARD_RUNTIME_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(BOARD_RUNTIME_CFLAGS) -c $< -o $@

$(BOARD_BUILD)/monocypher.o: $(MONOCYPHER_SRC)/monocypher.c $(MONOCYPHER_SRC)/monocypher.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Os -g -w $(BOARD_CFLAGS) -I$(MONOCYPHER_SRC) -c $< -o $@
