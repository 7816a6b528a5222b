// gpio.write / gpio.read for every board: the params, their checks and the answers
// live here; a board supplies only its pin access (registers, a driver, a table).
#ifndef OUTPOST_GPIO_H
#define OUTPOST_GPIO_H

#include "outpost.h"

typedef struct outpost_gpio {
  const char *write_description, *read_description;
  // rpc.list's params schemas: OUTPOST_GPIO_*_SCHEMA below, around the board's "pin".
  const char *write_schema, *read_schema;
  const char *pin_error; // the invalid-params message for a bad pin
  int (*valid)(long pin);
  // A pin given by name ("PD12"), or -1; NULL when pins are numbers only.
  long (*named)(const char *name);
  // Drives pin to level 0/1. Returns 0, or a JSON-RPC error code with *why set.
  int (*write)(long pin, int level, const char **why);
  int (*read)(long pin);
} outpost_gpio;

// Schemas from the JSON Schema of "pin" (a string literal), built at compile time.
#define OUTPOST_GPIO_WRITE_SCHEMA(PIN) \
  "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":" PIN ",\"value\":{\"enum\":[0,1]}}}"
#define OUTPOST_GPIO_READ_SCHEMA(PIN) "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":" PIN "}}"

// Registers gpio.write ({"pin","value"} or [pin, value]) and gpio.read ({"pin"} or
// [pin]). gpio must outlive the runtime.
void outpost_gpio_methods(const outpost_gpio *gpio);

#endif
