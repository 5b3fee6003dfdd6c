/**
 * The skeleton of the assemblers whose every event is one JSON object (Anthropic Messages and Responses
 * SSE events, Ollama's NDJSON lines): one Assembly holding the size limit, each event's data parsed as
 * a JSON object or counted as malformed, the result read from the Assembly. A format adds what its
 * objects mean (`acceptObject`) and how a whole body reads (`acceptWhole`).
 */
import { Assembly, parseJsonObject, str, type AssembledCompletion, type EventOutcome, type Json, type ResponseAssembler } from './assembly.js';
import type { SseEvent } from './sse.js';

export abstract class JsonEventAssembler implements ResponseAssembler {
  protected readonly a: Assembly;

  constructor(maxChars?: number) {
    this.a = new Assembly(maxChars);
  }

  acceptEvent(event: SseEvent): EventOutcome {
    const obj = parseJsonObject(event.data.trim());
    if (!obj) {
      this.a.malformed++;
      return 'malformed';
    }
    // The object's own `type`, else the SSE event name (NDJSON lines have neither).
    return this.acceptObject(obj, str(obj.type) ?? event.event ?? '');
  }

  abstract acceptWhole(body: Json): void;

  result(): AssembledCompletion {
    return this.a.result();
  }

  /** One event's object, `type` as above. */
  protected abstract acceptObject(obj: Json, type: string): EventOutcome;
}
