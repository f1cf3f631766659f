# The seed's README example (Cengal shared_memory / InterProcessPyObjects),
# run on shmheap: only the import line is changed, plus the README's typos
# fixed (a missing colon, a loop counter never incremented, the consumer's
# segment name) and prints saying what happens, ending with the exact count.
#
#     python python/examples/cengal_seed.py
from multiprocessing import Process

from shmheap.cengal import *

shared_memory_name = 'test_shared_mem'
shared_memory_size = 200 * 1024 * 1024
switches = 1000
changes_per_switch = 2000


def work(manager, shared_data):
    index = 0
    while index < switches:
        with wait_my_turn(manager):
            # emulating our working process
            for i in range(changes_per_switch):
                shared_data[1] += 1

        index += 1

def second_process():
    consumer: SharedMemory = SharedMemory(shared_memory_name, False)
    with consumer:
        consumer.init_consumer()
        consumer.wait_for_messages()
        with wait_my_turn(consumer):
            shared_data = consumer.take_message()
            print(f'consumer: took {shared_data!r}', flush=True)

        work(consumer, shared_data)
        print('consumer: done', flush=True)


creator: SharedMemory = SharedMemory(shared_memory_name, True, shared_memory_size)
with creator:
    p = Process(target=second_process)
    p.start()
    creator.wait_consumer_ready()
    print('creator: consumer ready', flush=True)
    with wait_my_turn(creator):
        data = [
            'hello',
            0,
            (8, 2.0, False),
            {
                b'world': -6,
                5: 4
            }
        ]
        shared_data = creator.put_message(data)
        print(f'creator: put {shared_data!r}', flush=True)

    work(creator, shared_data)
    p.join()
    with wait_my_turn(creator):
        print(f'creator: consumer exited with {p.exitcode}; shared_data = {shared_data!r}')
        print(f'count: {shared_data[1]} (expected {2 * switches * changes_per_switch})')
