/** How the panel writes numbers, money and times. */

export const number = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : value.toLocaleString('en-US');

export const money = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : `$${value.toFixed(4)}`;

/** UTC, to the second: the API's times are UTC and so are its days. */
export const time = (value: string | null | undefined): string =>
  value ? `${value.slice(0, 19).replace('T', ' ')} UTC` : '–';

export const models = (list: string[] | null): string =>
  list === null ? 'All models' : list.join(', ');
