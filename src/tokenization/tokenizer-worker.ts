// A worker thread that tokenizes large prompts with a LocalTokenizer, so the router's event loop never stalls on
// them. Requests: {id, kind: 'text', text} or {id, kind: 'chat', messages, tools?, engine}; answers {id, ids} or {id, error}.
import { parentPort, workerData } from 'node:worker_threads';
import { LocalTokenizer, type ChatEngine, type LocalTokenizerFiles } from './local-tokenizer.ts';

type Job = { id: number; kind: 'text'; text: string } | { id: number; kind: 'chat'; messages: unknown[]; tools?: unknown[]; engine: ChatEngine; maxChars: number };

const port = parentPort;
if (port !== null) {
  const loading = LocalTokenizer.load(workerData as LocalTokenizerFiles);
  port.on('message', (job: Job) => {
    loading
      .then((tokenizer) => {
        const ids = job.kind === 'text' ? tokenizer.encodeText(job.text) : tokenizer.encodeChat(job.messages, job.engine, job.maxChars, job.tools);
        port.postMessage({ id: job.id, ids: Uint32Array.from(ids) });
      })
      .catch((err: unknown) => port.postMessage({ id: job.id, error: (err as Error).message }));
  });
}
