// Small helpers over wasm3 that every host shares: the boards' runtime and the
// Node binding (host/native). They read wasm3's internal structs, so compile them
// with the same wasm3 configuration as the library itself.
#ifndef OUTPOST_WASM3_H
#define OUTPOST_WASM3_H

#include <stddef.h>
#include "wasm3.h"

// wasm3 signature string for a function ("i(ii)", "v(i)"), as m3_LinkRawFunction expects.
// Returns false if it does not fit in `size`.
_Bool outpost_signature(IM3Function function, char *out, size_t size);

// The first imported function nothing was linked to, or NULL when all are linked.
// Calling an unlinked import would only fail later, inside some export; hosts
// check this right after linking so a missing import is a load error instead.
IM3Function outpost_unlinked_import(IM3Module module);

// Import i of the module (0 <= i < outpost_import_count), for linking by name.
unsigned outpost_import_count(IM3Module module);
IM3Function outpost_import(IM3Module module, unsigned index);

// "<trap> in <function> (function #N), called through export <entry>": the innermost
// function wasm3 recorded (with backtraces compiled in), else the export alone.
void outpost_describe_trap(IM3Runtime runtime, M3Result trap, const char *entry, char *out, size_t size);

// The boards' wasm3 engine (outpost_engine_wasm3.c): its runtime and module while one is
// loaded, for boards/stm32/heap_trace.c's accounting.
IM3Runtime outpost_wasm3_runtime(void);
IM3Module outpost_wasm3_module(void);

#endif
