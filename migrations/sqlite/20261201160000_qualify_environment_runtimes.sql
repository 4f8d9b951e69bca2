-- An environment names its runtime plugin by its full id: the short names of the closed list
-- that came before become the ids of the first-party runtimes they stood for.
UPDATE environments SET runtime = 'komander.compose' WHERE runtime = 'compose';
UPDATE environments SET runtime = 'komander.kubernetes' WHERE runtime = 'kubernetes';
