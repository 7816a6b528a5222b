# Builds wasm3 as a static library. Include from a board's or the binding's Makefile:
#   WASM3_BUILD  := <output dir>          (required)
#   WASM3_CONFIG := <flags that size wasm3: -D... or -include a config header>
#   CC, AR, WASM3_ARCH_CFLAGS (e.g. -fPIC, -mcpu=...) as the target needs.
# Provides WASM3_SRC (the sources, fetched by fetch-wasm3.sh), WASM3_LIB and WASM3_INCLUDE.
OUTPOST_COMMON := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
WASM3_SRC := $(shell $(OUTPOST_COMMON)/fetch-wasm3.sh)
ifeq ($(WASM3_SRC),)
$(error wasm3 sources unavailable: see the fetch-wasm3.sh message above)
endif

WASM3_LIB := $(WASM3_BUILD)/libwasm3.a
WASM3_INCLUDE := -I$(WASM3_SRC)
# wasm3 is tuned for these: its interpreter relies on tail calls (-O2+) and a lean frame.
WASM3_OPT ?= -O3
WASM3_CFLAGS := -std=gnu11 $(WASM3_OPT) -g0 -fomit-frame-pointer -fno-stack-protector -fno-stack-check -DNASSERTS -w \
  $(WASM3_ARCH_CFLAGS) $(WASM3_CONFIG)
WASM3_OBJS := $(patsubst $(WASM3_SRC)/%.c,$(WASM3_BUILD)/wasm3/%.o,$(wildcard $(WASM3_SRC)/*.c))

$(WASM3_BUILD)/wasm3/%.o: $(WASM3_SRC)/%.c $(WASM3_CONFIG_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(WASM3_CFLAGS) -I$(WASM3_SRC) -c $< -o $@

$(WASM3_LIB): $(WASM3_OBJS)
	rm -f $@
	$(AR) rcs $@ $^
