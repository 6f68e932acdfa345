// Audio I/O: encoders and decoders for the supported formats, resampling and output post-processing.
export * from './pcm.js';
export * from './resample.js';
export * from './postprocess.js';
export * from './encode.js';
export * from './decode.js';
export * from './wav.js';
