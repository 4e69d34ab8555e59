/** Docker-style generated sandbox names (adjective_surname). */

const LEFT = ['admiring', 'bold', 'brave', 'clever', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'serene', 'sharp', 'tender', 'vibrant', 'wizardly', 'zen'];
const RIGHT = ['babbage', 'curie', 'dijkstra', 'einstein', 'hopper', 'knuth', 'lamarr', 'lovelace', 'noether', 'pike', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wozniak'];

const randomInt = (n: number): number => Math.floor(Math.random() * n); // a name, not a secret

export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; ; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i > 10 ? i : ''}`;
    if (!taken(n)) return n;
  }
}
