/** The user message of the part-2 streaming script (shared by the model host and the client). */
export const STREAM_USER_TEXT = 'Stream the benchmark reply.';
