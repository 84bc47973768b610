#!/bin/bash
# Lambda starts the Node.js runtime through this script (AWS_LAMBDA_EXEC_WRAPPER, set by the
# construct): "$1" is the interpreter, the rest are the runtime's own arguments, its entry script
# last (Lambda Developer Guide, "Modifying the runtime environment", wrapper scripts). Node is
# given its flags first: V8's cannot go in NODE_OPTIONS, and setting them once the process runs
# can crash it. --single-threaded-gc: the garbage collector's helper threads cost more CPU than
# they save while libvips renders on the same cores (BENCHMARKS.md, "The garbage collector's
# threads"). The same flags as `npm start` (lambda/node-flags.ts).
node="$1"
shift
exec "$node" --single-threaded-gc "$@"
