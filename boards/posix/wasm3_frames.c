// wasm3-frames MODULE.wasm: prints "index slots" for every function wasm3 compiles,
// where slots is the function's frame on wasm3's value stack (maxStackSlots: its
// arguments, results, locals, constants and temporaries). Built for the build
// machine with the boards' wasm3 configuration (wasm3_config.h), so the frames are
// the boards' own; boards/common/gen-stack.mjs adds them up along the module's call chains.
#include <stdio.h>
#include <stdlib.h>

#include "m3_env.h"
#include "outpost_wasm3.h"
#include "wasm3.h"

m3ApiRawFunction(unreachable_import) { m3ApiTrap(m3Err_trapUnreachable); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: wasm3-frames MODULE.wasm\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  static uint8_t wasm[1 << 20];
  size_t len = f ? fread(wasm, 1, sizeof wasm, f) : 0;
  if (!len || (f && !feof(f))) {
    fprintf(stderr, "wasm3-frames: cannot read %s (or it is over 1 MiB)\n", argv[1]);
    return 1;
  }
  fclose(f);
  IM3Environment env = m3_NewEnvironment();
  IM3Runtime runtime = env ? m3_NewRuntime(env, 64 * 1024, NULL) : NULL;
  IM3Module module = NULL;
  M3Result result = runtime ? m3_ParseModule(env, &module, wasm, (uint32_t)len) : "out of memory";
  if (!result) result = m3_LoadModule(runtime, module);
  // Imports only need to be linked for their callers to compile; they never run here.
  for (unsigned i = 0; !result && i < outpost_import_count(module); i++) {
    IM3Function import = outpost_import(module, i);
    char signature[32];
    if (!outpost_signature(import, signature, sizeof signature)) result = "import signature too long";
    else result = m3_LinkRawFunction(module, import->import.moduleUtf8, import->import.fieldUtf8, signature, unreachable_import);
  }
  if (!result) result = m3_CompileModule(module);
  if (result) {
    fprintf(stderr, "wasm3-frames: %s: %s\n", argv[1], result);
    return 1;
  }
  for (unsigned i = outpost_import_count(module); i < module->numFunctions; i++)
    printf("%u %u\n", i, (unsigned)module->functions[i].maxStackSlots);
  return 0;
}
