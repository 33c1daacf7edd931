// placeholder until the simulator lands
export class SimulatorDriver { name = 'simulator'; constructor(_o: unknown) {} async init() {} async close() {} }
