/**
 * Errors that reach applications carry Node-style codes, as `net.Socket`
 * errors do, so that code written for Node's `net` handles ours unchanged.
 */
export type ErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'ECONNABORTED'
  | 'EPIPE'
  | 'ENOTCONN'
  | 'EINVAL'
  | 'EMFILE'
  | 'ENETUNREACH'
  | 'EHOSTUNREACH';

export class StackError extends Error {
  readonly code: ErrorCode;
  readonly syscall: string | undefined;

  constructor(code: ErrorCode, message: string, syscall?: string) {
    super(`${code}: ${message}`);
    this.name = 'StackError';
    this.code = code;
    this.syscall = syscall;
  }
}
