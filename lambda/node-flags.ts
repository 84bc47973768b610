// The flags Node runs afterimage with: in Lambda through the asset's wrapper script
// (lambda/runtime-wrapper.sh, AWS_LAMBDA_EXEC_WRAPPER), under `npm start` from package.json.
// V8's flags cannot go in NODE_OPTIONS, and setting them once the process runs can crash it.

/**
 * `--single-threaded-gc`: with the garbage collector's helper threads, which compete with
 * libvips for the same cores, a render took about a tenth more CPU time (BENCHMARKS.md, "The
 * garbage collector's threads").
 */
export const NODE_FLAGS = ['--single-threaded-gc'] as const;
