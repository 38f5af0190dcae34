// Runs an exported ONNX model in ONNX Runtime for Node (the check that another
// runtime opens what `oneshot-audio export --format onnx` writes).
// Usage: node onnx_embed.js NODE_MODULES MODEL INPUT_NAME INPUT B,... OUTPUT
// INPUT: raw float32 of the given shape; writes OUTPUT: the "embedding"
// output as raw float32, and prints its dims as JSON.
const fs = require('fs');
const path = require('path');

const [modules, model, inputName, inputPath, shape, outputPath] = process.argv.slice(2);
const ort = require(path.join(modules, 'onnxruntime-node'));

(async () => {
  const session = await ort.InferenceSession.create(model);
  const bytes = fs.readFileSync(inputPath);
  const data = new Float32Array(new Uint8Array(bytes).buffer);  // a copy: aligned whatever Buffer's offset
  const dims = shape.split(',').map(Number);
  const result = await session.run({ [inputName]: new ort.Tensor('float32', data, dims) });
  const e = result.embedding;
  fs.writeFileSync(outputPath, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
  console.log(JSON.stringify({ inputs: session.inputNames, outputs: session.outputNames, dims: e.dims }));
})().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
