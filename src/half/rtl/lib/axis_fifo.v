// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_fifo — synchronous AXI4-Stream FIFO (one clock) that carries tdata and tlast.
 *
 * The beats are stored in a plain register array with one write port and one registered read
 * port (`if (read) out <= mem[rd_ptr]`), the pattern that synthesis maps to block RAM, or to
 * LUT RAM plus a register; the read register is the output register, so m_axis_* comes
 * straight from flip-flops. The memory is never read and written at the same address in the
 * same cycle (a read needs a stored beat, a write a free entry).
 *
 * Parameters
 *   DATA_W  width of tdata (>= 1)
 *   DEPTH   memory entries (>= 2, any value; a power of two fills a block RAM best)
 * Ports
 *   clk, rst                          clock; synchronous active-high reset (empties the FIFO)
 *   s_axis_t{data,last,valid,ready}   input stream
 *   m_axis_t{data,last,valid,ready}   output stream
 * Capacity, latency and throughput
 *   holds up to DEPTH + 1 beats (DEPTH in the memory, one in the output register);
 *   latency 2 cycles: a beat accepted at edge k is valid at the output after edge k + 1
 *   (when the FIFO is empty and the output is not stalled); one beat per cycle in and out at
 *   the same time while the memory is neither empty nor full. s_axis_tready and m_axis_tvalid
 *   are functions of registers only (no combinational path from input to output).
 */
module axis_fifo #(
    parameter integer DATA_W = 8,  // width of tdata
    parameter integer DEPTH = 16  // memory entries (>= 2)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [DATA_W-1:0] s_axis_tdata,
    input  wire              s_axis_tlast,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    output wire [DATA_W-1:0] m_axis_tdata,
    output wire              m_axis_tlast,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready
);

    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;  // memory address width
    localparam [AW-1:0] LAST = AW'(DEPTH - 1);  // highest address

    generate
        if (DATA_W < 1) begin : g_bad_width
            initial $error("axis_fifo: DATA_W must be >= 1 (instance %m)");
        end
        if (DEPTH < 2) begin : g_bad_depth
            initial $error("axis_fifo: DEPTH must be >= 2 (instance %m)");
        end
    endgenerate

    reg [DATA_W:0] mem [0:DEPTH-1];  // {tlast, tdata} per entry
    reg [DATA_W:0] out_reg;  // the read register: {tlast, tdata} at the output
    reg out_valid_reg;
    // pointers count 0 .. DEPTH-1 and flip a lap bit when they wrap: equal addresses mean
    // empty on the same lap and full on different laps
    reg [AW-1:0] wr_ptr_reg, rd_ptr_reg;
    reg wr_lap_reg, rd_lap_reg;

    wire same_addr = wr_ptr_reg == rd_ptr_reg;
    wire mem_empty = same_addr && (wr_lap_reg == rd_lap_reg);
    wire mem_full = same_addr && (wr_lap_reg != rd_lap_reg);
    wire write = s_axis_tvalid && !mem_full;
    wire read = !mem_empty && (m_axis_tready || !out_valid_reg);

    assign s_axis_tready = !mem_full;
    assign m_axis_tvalid = out_valid_reg;
    assign {m_axis_tlast, m_axis_tdata} = out_reg;

    // memory: write port and registered read port (no reset, so that it maps to RAM)
    always @(posedge clk) begin
        if (write) mem[wr_ptr_reg] <= {s_axis_tlast, s_axis_tdata};
        if (read) out_reg <= mem[rd_ptr_reg];
    end

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr_reg <= {AW{1'b0}};
            rd_ptr_reg <= {AW{1'b0}};
            wr_lap_reg <= 1'b0;
            rd_lap_reg <= 1'b0;
            out_valid_reg <= 1'b0;
        end else begin
            if (write) begin
                wr_ptr_reg <= (wr_ptr_reg == LAST) ? {AW{1'b0}} : wr_ptr_reg + 1'b1;
                if (wr_ptr_reg == LAST) wr_lap_reg <= !wr_lap_reg;
            end
            if (read) begin
                rd_ptr_reg <= (rd_ptr_reg == LAST) ? {AW{1'b0}} : rd_ptr_reg + 1'b1;
                if (rd_ptr_reg == LAST) rd_lap_reg <= !rd_lap_reg;
                out_valid_reg <= 1'b1;
            end else if (m_axis_tready) begin
                out_valid_reg <= 1'b0;
            end
        end
    end

endmodule

`resetall
