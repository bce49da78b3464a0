'use strict';
// lossd: a Node client of the lossd loss service. See README.md.
const {LossClient, LossdError, splitTargets} = require('./src/client');
const {fromTensor, toTensor} = require('./src/tensors');

module.exports = {LossClient, LossdError, fromTensor, splitTargets, toTensor};
