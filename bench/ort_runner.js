// ONNX Runtime (CPU) for bench/bench.py: a long-lived node process that runs
// one ONNX model on request, so the benchmark can time it alternately with
// cnnc and PyTorch. onnxruntime-node comes from scripts/setup_bench.sh
// (bench/.ort/).
//
//   node bench/ort_runner.js     then one JSON request per line on stdin,
//                                one JSON reply per line on stdout
//
// Requests (replies are {"ok": true, ...} or {"error": "message"}):
//   {"cmd": "load", "model": "m.onnx", "threads": 2}
//       a session with intraOpNumThreads = threads, interOpNumThreads 1,
//       graphOptimizationLevel 'all', the CPU execution provider
//   {"cmd": "input", "path": "x.f32", "shape": [8, 3, 224, 224]}
//       reads raw float32 (native byte order) into the tensor later runs use
//   {"cmd": "run", "output": "y.f32"}   ("output" optional)
//       -> {"ok": true, "seconds": s}: the wall time of `await session.run(...)`
//       alone (process.hrtime.bigint() before and after), input tensor built
//       beforehand; with "output", the first output is then written as raw float32
//   {"cmd": "peak_rss"}
//       -> {"ok": true, "kib": k}: growth of the process's peak RSS over two
//       runs, from the loaded session (VmHWM reset through /proc/self/clear_refs)
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const ort = require(require.resolve('onnxruntime-node', {paths: [path.join(__dirname, '.ort')]}));

let session = null;
let feeds = null;

function statusKib(key) {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key));
  return parseInt(line.split(/\s+/)[1], 10);
}

async function timedRun() {
  const start = process.hrtime.bigint();
  const outputs = await session.run(feeds);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {outputs, seconds};
}

const handlers = {
  async load(req) {
    session = await ort.InferenceSession.create(req.model, {
      intraOpNumThreads: req.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
    return {inputs: session.inputNames, outputs: session.outputNames};
  },
  async input(req) {
    const bytes = fs.readFileSync(req.path);
    // A copy into a fresh ArrayBuffer: the file's bytes may sit at an offset
    // that is not a multiple of 4 inside node's buffer pool.
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, req.shape)};
    return {};
  },
  async run(req) {
    const {outputs, seconds} = await timedRun();
    if (req.output) {
      const data = outputs[session.outputNames[0]].data;
      fs.writeFileSync(req.output, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    return {seconds};
  },
  async peak_rss() {
    fs.writeFileSync('/proc/self/clear_refs', '5');  // resets VmHWM to the current RSS
    const before = statusKib('VmRSS:');
    await timedRun();
    await timedRun();
    return {kib: statusKib('VmHWM:') - before};
  },
};

async function main() {
  for await (const line of readline.createInterface({input: process.stdin})) {
    let reply;
    try {
      const req = JSON.parse(line);
      const handler = handlers[req.cmd];
      if (!handler) throw new Error(`unknown command ${req.cmd}`);
      reply = {ok: true, ...(await handler(req))};
    } catch (e) {
      reply = {error: String(e && e.message ? e.message : e)};
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

main();
