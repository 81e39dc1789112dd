// A device's gaps: ranges of sequence numbers the cloud has not received. Loss is never
// silent in Corio, so an empty table says so in words.
import type { Gap } from '../api/types';
import { formatAbsolute, formatCount, formatRelative, formatSeq } from '../lib/time';

const KIND_TEXT: Record<Gap['kind'], string> = {
  seq: 'Hole between stored messages',
  tail: 'Tail: heartbeat is ahead of stored messages',
};

export function GapsTable({ gaps, now }: { gaps: Gap[]; now: number }) {
  if (gaps.length === 0) {
    return (
      <p className="empty" data-testid="gaps-empty">
        No open gaps: every sequence number up to the last heartbeat has arrived.
      </p>
    );
  }
  return (
    <table className="table" data-testid="gaps-table">
      <caption className="sr-only">Open gaps in the device's sequence numbers</caption>
      <thead>
        <tr>
          <th scope="col" className="num">Epoch</th>
          <th scope="col" className="num">From seq</th>
          <th scope="col" className="num">To seq</th>
          <th scope="col" className="num">Missing</th>
          <th scope="col">Kind</th>
          <th scope="col">Detected</th>
        </tr>
      </thead>
      <tbody>
        {gaps.map((g) => (
          <tr key={`${g.epoch}:${g.from_seq}:${g.to_seq}:${g.kind}`} data-testid="gap-row">
            <td className="num mono">{g.epoch}</td>
            <td className="num mono">{formatSeq(g.from_seq)}</td>
            <td className="num mono">{formatSeq(g.to_seq)}</td>
            <td className="num warn-text">{formatCount(g.to_seq - g.from_seq + 1)}</td>
            <td>{KIND_TEXT[g.kind]}</td>
            <td>
              <time title={formatAbsolute(g.detected)}>{formatRelative(g.detected, now)}</time>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
