// The connection phases every transport goes through (assembly/link/supervisor.ts).
// A file of its own: the transports import them at module level, and the supervisor imports the transports.
export const S_IDLE: u32 = 0; // not started, or stopped
export const S_WAIT: u32 = 1; // backing off until phaseAt (supervisor.ts)
export const S_OPENING: u32 = 2; // EV_OPEN given, socket not open yet
export const S_CONNECTING: u32 = 3; // the transport's hello sent (CONNECT, the HTTP upgrade), waiting for its answer
export const S_CONNECTED: u32 = 4;
