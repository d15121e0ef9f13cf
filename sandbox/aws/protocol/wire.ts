// What every protocol codec hands back to the HTTP server: a status, headers and a body.

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}
