/**
 * A response message that writes its own wire bytes when grpc-js serializes it. The bytes it returns
 * need only last until the next message is encoded: grpc-js copies a response's serialized bytes
 * into its frame straight after the serializer returns (server-interceptors' serializeMessage), so
 * they may live in scratch space used again and again, whose pages are warm, instead of in a fresh
 * buffer per message whose first touch costs a page fault per 4 KB.
 */
export abstract class SelfEncoded {
  abstract encodeTransient(): Buffer;
}
