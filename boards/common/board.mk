# What every board's Makefile shares: wasm3 with the MCU configuration, and the
# runtime (boards/common/*.c). Set before including:
#   BOARD_BUILD   output dir            CC, AR          the toolchain
#   BOARD_CFLAGS  target flags (-mcpu=..., -fPIC, -D overrides of wasm3_config.h)
# Provides BOARD_RUNTIME_OBJS, WASM3_LIB and BOARD_INCLUDES; net_bsd.c is separate
# (BOARD_NET_BSD_OBJ) for boards with BSD sockets.
BOARD_COMMON := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
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
BOARD_OTA_OBJS := $(addprefix $(BOARD_BUILD)/common/,outpost_ota.o outpost_sha256.o outpost_ed25519.o) $(BOARD_BUILD)/monocypher.o
BOARD_SLOTS_FILE_OBJ := $(BOARD_BUILD)/common/outpost_slots_file.o

BOARD_INCLUDES := -I$(BOARD_COMMON) $(WASM3_INCLUDE) -I$(MONOCYPHER_SRC)
BOARD_RUNTIME_CFLAGS := -std=gnu11 -Os -g -Wall -Wextra -Wno-unused-parameter $(BOARD_CFLAGS) $(WASM3_CONFIG) $(BOARD_INCLUDES)
BOARD_RUNTIME_OBJS := $(addprefix $(BOARD_BUILD)/common/,outpost.o outpost_config.o outpost_gpio.o outpost_loop.o outpost_wasm3.o)
BOARD_NET_BSD_OBJ := $(BOARD_BUILD)/common/net_bsd.o

$(BOARD_BUILD)/common/%.o: $(BOARD_COMMON)/%.c $(wildcard $(BOARD_COMMON)/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BOARD_RUNTIME_CFLAGS) -c $< -o $@

$(BOARD_BUILD)/monocypher.o: $(MONOCYPHER_SRC)/monocypher.c $(MONOCYPHER_SRC)/monocypher.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Os -g -w $(BOARD_CFLAGS) -I$(MONOCYPHER_SRC) -c $< -o $@
