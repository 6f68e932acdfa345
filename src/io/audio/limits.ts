// What an input audio file may declare before anything is allocated for it: the ranges real
// recordings use. A header beyond them is corrupt or hostile (a 4 GHz rate, 65535 channels).

/** Lowest input sample rate accepted (telephone audio is 8 kHz; below 1 kHz nothing is music). */
export const MIN_SAMPLE_RATE = 1000;
/** Highest input sample rate accepted (the top DXD / 384 kHz studio rate). */
export const MAX_SAMPLE_RATE = 384000;
/** Most channels accepted (well beyond 22.2 surround). */
export const MAX_CHANNELS = 32;
