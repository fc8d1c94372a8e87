// Helpers shared by the end-to-end tests.
import net from 'node:net';

// A loopback port nothing listens on now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The official OpenAI client's class; exits 77 (CTest's skip) when the package is missing.
export async function openAIOrSkip() {
  try {
    return (await import('openai')).default;
  } catch {
    console.log('# SKIP: the openai package is missing; run scripts/setup.sh (npm install in tests/node)');
    process.exit(77);
  }
}
